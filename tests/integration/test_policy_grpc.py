"""The policy conformance table over gRPC: `Authorize` against a real server on 127.0.0.1:0 whose
`policy.dir` is the case's folder and whose super users are the case's; one server per (folder, super users).

Claims reach a decision over gRPC only from a credential that authenticates to the principal asked about, so
a case with an issuer and claims attaches a token with exactly those: the server trusts the SSO issuer of
the cases, whose keys a real HTTP JWKS server serves (principal `oidc:{sub}`, `groups` and `status`
exposed). It does not trust the cases' other issuer (https://evil.test): a second SSO issuer with a template
that can render `oidc:<sub>` too is refused at start-up, so its tokens never vouch for an `oidc:` principal.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from meshgate.model import DELEGATION_ACTORS, DELEGATION_SUBJECT, SUBJECT_PREFIX, AccessRequest
from meshgate.v1 import meshgate_pb2 as pb

from tests.conformance.oidc.mint import jwks_document, mint, signing_keys
from tests.conformance.policy.build import Case, iter_cases
from tests.support.jwks_server import JwksServer, jwks_server

if TYPE_CHECKING:
    from tests.integration.conftest import MeshgateServer, RawConfig, ServerPool

pytestmark = pytest.mark.integration
CASES = {case.case_id: case for case in iter_cases()}
ISSUERS = {"https://sso.conf.test": "/sso/jwks.json"}
EXPOSED = ["groups", "status"]

# An empty action is a malformed request over gRPC, not a decision (the proto contract).
_STATUS_INSTEAD_OF_DECISION = {"empty-action": grpc.StatusCode.INVALID_ARGUMENT}
_NOT_REPRESENTABLE = {
    "oidc-no-issuer": "claims without an issuer: over gRPC claims come only from a verified token",
}


def _params() -> list[Any]:
    params = []
    for case_id in CASES:
        reason = _NOT_REPRESENTABLE.get(case_id)
        marks = [pytest.mark.skip(reason=f"not replayable over gRPC: {reason}")] if reason else []
        params.append(
            pytest.param(case_id, id=f"{case_id}[skip: {reason}]" if reason else case_id, marks=marks)
        )
    return params


@pytest.fixture(scope="module")
def jwks() -> Iterator[JwksServer]:
    with jwks_server() as running:
        for path in ISSUERS.values():
            running.set(path, jwks_document(["rsa1"]))
        yield running


def issuers(jwks: JwksServer) -> list[dict[str, Any]]:
    common = {"audiences": ["pulsar"], "kind": "sso", "principal": "oidc:{sub}", "expose_claims": EXPOSED}
    return [{"issuer": iss, "jwks_url": jwks.url(path), **common} for iss, path in ISSUERS.items()]


def token_for(request: AccessRequest) -> str:
    """A token from `request.issuer` for `request.principal` carrying exactly `request.attributes`; with a
    delegation chain in them, an RFC 8693 token: `sub` the person, `act` the actors, the caller outermost."""
    key = signing_keys()["rsa1"]
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": request.issuer,
        "sub": request.principal.removeprefix("oidc:"),
        "aud": "pulsar",
        "iat": now - 5,
        "exp": now + 600,
    }
    own = {name: list(values) for name, values in request.attributes.items() if "." not in name}
    actors = request.attributes.get(DELEGATION_ACTORS)
    if actors:
        claims["sub"] = request.attributes[DELEGATION_SUBJECT][0].removeprefix("oidc:")
        claims["act"] = {**_act(actors), **own}
        prefixed = request.attributes.items()
        own = {
            name[len(SUBJECT_PREFIX) :]: list(v) for name, v in prefixed if name.startswith(SUBJECT_PREFIX)
        }
    claims.update(own)
    return mint(key, {"alg": key.alg, "typ": "JWT", "kid": key.kid}, claims)


def _act(actors: tuple[str, ...]) -> dict[str, Any]:
    """Nested `act` claims naming `actors`, the first outermost."""
    act: dict[str, Any] = {}
    for actor in reversed(actors):
        act = {"sub": actor.removeprefix("oidc:"), **({"act": act} if act else {})}
    return act


def authorize_request(case: Case) -> pb.AuthorizeRequest:
    r = case.request
    resource = pb.Resource(
        tenant=r.resource.tenant,
        namespace=r.resource.namespace,
        topic=r.resource.topic,
        cluster=r.resource.cluster,
        broker=r.resource.broker,
    )
    request = pb.AuthorizeRequest(
        principal=r.principal,
        action=r.action,
        resource=resource,
        subscription=r.subscription,
        peer=pb.Peer(address="127.0.0.1:40002", auth_method="tls", transport="binary"),
        request_id=case.case_id,
        broker_id="conformance-broker",
    )
    if r.issuer:
        request.credential.token = token_for(r)
    return request


def server_for(case: Case, pool: ServerPool, jwks: JwksServer) -> MeshgateServer:
    def make(_directory: Path) -> tuple[RawConfig, None]:
        policy = {"dir": str(case.policy_dir), "superusers": list(case.superusers)}
        return {"policy": policy, "oidc": {"issuers": issuers(jwks)}}, None

    return pool.get(f"{case.policy_dir}|{case.superusers}", make)


@pytest.mark.parametrize("case_id", _params())
def test_case_over_grpc(case_id: str, server_pool: ServerPool, jwks: JwksServer) -> None:
    case = CASES[case_id]
    server = server_for(case, server_pool, jwks)
    request = authorize_request(case)
    status = _STATUS_INSTEAD_OF_DECISION.get(case_id)
    if status is not None:
        with pytest.raises(grpc.RpcError) as failed:
            server.stubs.authorization.Authorize(request, timeout=10)
        assert failed.value.code() == status
        return
    decision = server.stubs.authorization.Authorize(request, timeout=10).decision
    assert (decision.allowed, decision.reason_code) == (case.allowed, case.reason_code), decision.reason
    if case.rule_id is not None:
        assert decision.rule_id == case.rule_id, decision.reason
    assert decision.reason and decision.revision


def test_a_batch_answers_in_order(server_pool: ServerPool, jwks: JwksServer) -> None:
    """The same table through AuthorizeBatch: one call per server, decisions in the order of the requests."""
    skipped = _STATUS_INSTEAD_OF_DECISION.keys() | _NOT_REPRESENTABLE.keys()
    groups: dict[str, list[Case]] = {}
    for case in CASES.values():
        if case.case_id not in skipped:
            groups.setdefault(f"{case.policy_dir}|{case.superusers}", []).append(case)
    for group in groups.values():
        server = server_for(group[0], server_pool, jwks)
        batch = pb.AuthorizeBatchRequest(requests=[authorize_request(c) for c in group])
        decisions = server.stubs.authorization.AuthorizeBatch(batch, timeout=30).decisions
        assert [(d.allowed, d.reason_code, d.rule_id) for d in decisions] == [
            (c.allowed, c.reason_code, d.rule_id if c.rule_id is None else c.rule_id)
            for c, d in zip(group, decisions, strict=True)
        ]


def test_claims_count_only_with_a_credential_for_that_principal(
    server_pool: ServerPool, jwks: JwksServer
) -> None:
    case = CASES["oidc-group-consume"]
    assert case.allowed
    server = server_for(case, server_pool, jwks)
    without = authorize_request(case)
    without.ClearField("credential")
    someone_else = authorize_request(case)
    someone_else.credential.token = token_for(replace(case.request, principal="mallory"))
    for request in (without, someone_else):
        decision = server.stubs.authorization.Authorize(request, timeout=10).decision
        assert (decision.allowed, decision.reason_code) == (False, "no_matching_rule")
