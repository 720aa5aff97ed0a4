"""Accountable agents over gRPC (issue #18 item 3): a real server on 127.0.0.1:0 trusting an SSO issuer whose
keys a real HTTP JWKS server serves, deciding with tests/conformance/policy/policies (agents.yaml), writing
its audit file.

A delegated token (RFC 8693 `act`) authenticates as the agent and answers with the chain; every decision
made for it carries the chain on the wire, and every audit record about it, logins included, holds the
whole chain. The same agent's own token (no `act`) has none.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from meshgate.v1 import meshgate_pb2 as pb

from tests.conformance.oidc.mint import jwks_document, mint, signing_keys
from tests.support.jwks_server import JwksServer, jwks_server

if TYPE_CHECKING:
    from tests.integration.conftest import MeshgateServer, StartMeshgate

pytestmark = pytest.mark.integration
ISSUER = "https://sso.conf.test"
POLICIES = Path(__file__).resolve().parents[1] / "conformance" / "policy" / "policies"
CHAIN = {"subject": "oidc:alice", "actors": ["oidc:deploy-bot", "oidc:orchestrator"]}


@pytest.fixture(scope="module")
def jwks() -> Iterator[JwksServer]:
    with jwks_server() as running:
        running.set("/sso/jwks.json", jwks_document(["rsa1"]))
        yield running


@pytest.fixture
def server(start_meshgate: StartMeshgate, jwks: JwksServer, tmp_path: Path) -> MeshgateServer:
    issuer = {
        "issuer": ISSUER,
        "jwks_url": jwks.url("/sso/jwks.json"),
        "audiences": ["pulsar"],
        "principal": "oidc:{sub}",
        "expose_claims": ["groups"],
    }
    return start_meshgate(
        {
            "policy": {"dir": str(POLICIES)},
            "oidc": {"issuers": [issuer]},
            "audit": {"file": {"path": str(tmp_path / "audit.jsonl")}},
        }
    )


def _token(**claims: Any) -> str:
    key, now = signing_keys()["rsa1"], int(time.time())
    body = {"iss": ISSUER, "aud": "pulsar", "iat": now - 5, "exp": now + 600, **claims}
    return mint(key, {"alg": key.alg, "typ": "JWT", "kid": key.kid}, body)


DELEGATED = _token(
    sub="alice", groups=["payments-admins"], act={"sub": "deploy-bot", "act": {"sub": "orchestrator"}}
)
DIRECT = _token(sub="deploy-bot")


def _ask(action: str, token: str, request_id: str) -> pb.AuthorizeRequest:
    return pb.AuthorizeRequest(
        principal="oidc:deploy-bot",
        action=action,
        resource=pb.Resource(tenant="deploy", namespace="deploy/payments"),
        credential=pb.Credential(token=token),
        peer=pb.Peer(address="127.0.0.1:40100", auth_method="token", transport="http"),
        request_id=request_id,
    )


def _audit(path: Path, want: int) -> list[dict[str, Any]]:
    """The records of the audit file once `want` are written (the file sink writes from its own thread)."""
    deadline = time.monotonic() + 10
    while True:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= want or time.monotonic() > deadline:
            return [json.loads(line) for line in lines]
        time.sleep(0.05)


def test_a_delegated_token_authenticates_as_the_agent_with_its_chain(server: MeshgateServer) -> None:
    answer = server.stubs.authentication.Authenticate(
        pb.AuthenticateRequest(credential=pb.Credential(token=DELEGATED)), timeout=10
    )
    assert answer.identity.principal == "oidc:deploy-bot"
    assert answer.identity.delegation == pb.Delegation(**CHAIN)
    direct = server.stubs.authentication.Authenticate(
        pb.AuthenticateRequest(credential=pb.Credential(token=DIRECT)), timeout=10
    )
    assert direct.identity.principal == "oidc:deploy-bot"
    assert not direct.identity.HasField("delegation")


def test_every_decision_and_record_for_a_delegated_call_carries_the_chain(
    server: MeshgateServer, tmp_path: Path
) -> None:
    server.stubs.authentication.Authenticate(
        pb.AuthenticateRequest(credential=pb.Credential(token=DELEGATED), request_id="login"), timeout=10
    )
    asked = [
        _ask("namespace_policy.retention.write", DELEGATED, "retention"),
        _ask("namespace.delete_topic", DELEGATED, "delete"),
        _ask("namespace.delete_topic", DIRECT, "delete-as-itself"),
    ]
    decisions = server.stubs.authorization.AuthorizeBatch(
        pb.AuthorizeBatchRequest(requests=asked), timeout=10
    )
    answers = [(d.allowed, d.rule_id, d.HasField("delegation")) for d in decisions.decisions]
    assert answers == [
        (True, "agents.yaml#deploy-bot-for-payments-admins", True),
        (False, "agents.yaml#no-agent-deletes-topics", True),
        (True, "agents.yaml#deploy-bot-cleans-up", False),
    ]
    assert decisions.decisions[1].delegation == pb.Delegation(**CHAIN)
    assert "(acting for 'oidc:alice')" in decisions.decisions[1].reason
    records = {r["request_id"]: r for r in _audit(tmp_path / "audit.jsonl", want=4)}
    assert records["login"]["principal"] == "oidc:deploy-bot"
    for request_id in ("login", "retention", "delete"):
        assert records[request_id]["delegation"] == CHAIN, records[request_id]
    assert "delegation" not in records["delete-as-itself"]
