"""Issue #16 item 2 over gRPC: an SSO token cannot authenticate as a workload or a super-user.

The reported attack: an issuer whose principal is the plain claim `preferred_username` turned a token with
`preferred_username: spiffe://cluster.local/ns/pulsar/sa/pulsar-broker` into the broker, a super-user. That
configuration no longer starts; a mapping that would cross anyway (built past the configuration checks) is
refused by `Authenticate` with `principal_crosses_kind`; and in the SSO namespace the same claim is just an
SSO user, whom the policy does not treat as a super-user.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from meshgate.config.service import load_config
from meshgate.errors import ConfigError
from meshgate.oidc.principal import PrincipalRule
from meshgate.v1 import meshgate_pb2 as pb

from tests.conformance.oidc.mint import jwks_document, mint, signing_keys
from tests.integration.conftest import MeshgateServer, write_config
from tests.support.jwks_server import JwksServer, jwks_server

if TYPE_CHECKING:
    from tests.integration.conftest import StartMeshgate

pytestmark = pytest.mark.integration
ISS, PATH = "https://sso.kinds.test", "/sso/jwks.json"
BROKER = "spiffe://cluster.local/ns/pulsar/sa/pulsar-broker"


@pytest.fixture
def jwks() -> Iterator[JwksServer]:
    with jwks_server() as running:
        running.set(PATH, jwks_document(["rsa1"]))
        yield running


def _config(jwks: JwksServer, principal: str) -> dict[str, Any]:
    issuer = {"issuer": ISS, "jwks_url": jwks.url(PATH), "audiences": ["pulsar"], "principal": principal}
    return {"oidc": {"issuers": [issuer]}, "policy": {"superusers": [BROKER]}}


def _forged(**claims: Any) -> str:
    body = {"iss": ISS, "sub": "mallory", "aud": "pulsar", "exp": int(time.time()) + 300, **claims}
    key = signing_keys()["rsa1"]
    return mint(key, {"alg": "RS256", "kid": key.kid}, {**body, "preferred_username": BROKER})


def _authenticate(server: MeshgateServer, token: str) -> pb.AuthenticateResponse:
    request = pb.AuthenticateRequest(
        credential=pb.Credential(token=token), peer=pb.Peer(address="127.0.0.1:40000", auth_method="token")
    )
    answer: pb.AuthenticateResponse = server.stubs.authentication.Authenticate(request, timeout=5)
    return answer


def test_the_reported_configuration_does_not_start(start_meshgate: StartMeshgate, jwks: JwksServer) -> None:
    with pytest.raises(ConfigError) as caught:
        start_meshgate(_config(jwks, "preferred_username"))
    assert caught.value.message == (
        "oidc.issuers[0].principal: 'preferred_username' would copy the claim into the principal as it is, "
        "so a token could name a workload or a super-user; SSO principals start with 'oidc:': "
        'write "oidc:{iss}#{preferred_username}"'
    )


@pytest.fixture
def crossing(jwks: JwksServer, tmp_path: Path) -> Iterator[MeshgateServer]:
    """The service with the reported mapping put back after loading (what the old code accepted)."""
    config = load_config(write_config(tmp_path, _config(jwks, "oidc:{iss}#{sub}")), env={})
    plain = PrincipalRule("preferred_username", ("", ""), ("preferred_username",))
    issuers = tuple(replace(issuer, principal=plain) for issuer in config.oidc.issuers)
    server = MeshgateServer.boot(replace(config, oidc=replace(config.oidc, issuers=issuers)), None)
    yield server
    server.stop()


def test_a_token_naming_the_broker_is_rejected_over_authenticate(crossing: MeshgateServer) -> None:
    answer = _authenticate(crossing, _forged())
    assert answer.WhichOneof("result") == "rejection", answer.identity
    assert answer.rejection.code == "principal_crosses_kind"
    assert answer.rejection.reason == (
        f"identity: oidc credentials may not produce {BROKER!r}: it is in the spiffe namespace, "
        "and oidc principals are oidc:..."
    )


def test_in_the_sso_namespace_the_claim_is_an_ordinary_user(
    start_meshgate: StartMeshgate, jwks: JwksServer
) -> None:
    server = start_meshgate(_config(jwks, "oidc:{iss}#{preferred_username}"))
    identity = _authenticate(server, _forged()).identity
    assert (identity.principal, identity.credential_kind) == (f"oidc:{ISS}#{BROKER}", "oidc")
    question = pb.AuthorizeRequest(principal=identity.principal, action="superuser")
    decision = server.stubs.authorization.Authorize(question, timeout=5).decision
    assert (decision.allowed, decision.reason_code) == (False, "no_matching_rule")
