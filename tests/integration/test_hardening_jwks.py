"""Fault: the JWKS endpoint goes down under a running service (real gRPC server and real HTTP JWKS server,
both on loopback). Cached keys keep serving, an unknown kid is denied, and a storm of unknown kids costs at
most one refetch per `unknown_kid_interval_seconds`."""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from meshgate.v1 import meshgate_pb2 as pb

from tests.conformance.oidc.mint import jwks_document, mint, signing_keys
from tests.support.jwks_server import JwksServer, jwks_server

if TYPE_CHECKING:
    from tests.integration.conftest import MeshgateServer, StartMeshgate

pytestmark = pytest.mark.integration
ISS, PATH, INTERVAL = "https://sso.faults.test", "/sso/jwks.json", 2.0


@pytest.fixture
def jwks() -> Iterator[JwksServer]:
    with jwks_server() as running:
        running.set(PATH, jwks_document(["rsa1"]))
        yield running


@pytest.fixture
def service(start_meshgate: StartMeshgate, jwks: JwksServer) -> MeshgateServer:
    issuer = {"issuer": ISS, "jwks_url": jwks.url(PATH), "audiences": ["pulsar"], "kind": "sso"}
    oidc = {"issuers": [issuer], "unknown_kid_interval_seconds": INTERVAL, "unknown_kid_wait_seconds": 1}
    return start_meshgate({"oidc": oidc})


def _token(sub: str, kid: str | None = None) -> str:
    key = signing_keys()["rsa1"]
    claims = {"iss": ISS, "sub": sub, "aud": "pulsar", "exp": int(time.time()) + 300}
    return mint(key, {"alg": "RS256", "kid": kid or key.kid}, claims)


def _authenticate(service: MeshgateServer, token: str) -> pb.AuthenticateResponse:
    request = pb.AuthenticateRequest(credential=pb.Credential(token=token))
    answer: pb.AuthenticateResponse = service.stubs.authentication.Authenticate(request, timeout=5)
    return answer


def test_jwks_down_cached_keys_serve_unknown_kid_denied(service: MeshgateServer, jwks: JwksServer) -> None:
    assert _authenticate(service, _token("warm-up")).identity.principal == f"oidc:{ISS}#warm-up"
    jwks.set(PATH, None)  # the IdP is down from here on
    served = [_authenticate(service, _token(f"user-{i}")) for i in range(50)]  # distinct: no token-cache hits
    assert [a.identity.principal for a in served] == [f"oidc:{ISS}#user-{i}" for i in range(50)]

    hits_before, started = jwks.hits(PATH), time.monotonic()
    codes = [_authenticate(service, _token("x", kid=secrets.token_hex(8))).rejection.code for _ in range(150)]
    elapsed = time.monotonic() - started
    assert set(codes) == {"unknown_kid"}
    refetches = jwks.hits(PATH) - hits_before
    assert 1 <= refetches <= math.ceil(elapsed / INTERVAL) + 1, (refetches, elapsed)
    assert _authenticate(service, _token("after-storm")).identity.principal == f"oidc:{ISS}#after-storm"
