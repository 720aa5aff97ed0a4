"""The OIDC conformance table over gRPC: tokens sent to a real server on 127.0.0.1:0 whose issuers fetch
their keys from a real HTTP JWKS server.

Cases that share an issuer configuration and key sets share one server (its own JWKS path prefix, so no
other group's key changes reach it); the server's `FixedClock` is moved to each case's `now`. A case with
several JWKS phases starts on the first and serves each next one followed by one refresh per issuer, the
replay `build.py` defines. Cases whose phases let time pass on the cache's monotonic clock cannot be
replayed against a running service and are skipped (the in-process and HTTP runners cover them).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest
from meshgate.clock import FixedClock
from meshgate.v1 import meshgate_pb2 as pb

from tests.conformance.oidc.build import DEFAULT_JWKS_BASE, Case, iter_cases, settings
from tests.support.authenticate_answers import identity_or_rejection
from tests.support.jwks_server import JwksServer, jwks_server

if TYPE_CHECKING:
    from tests.integration.conftest import MeshgateServer, RawConfig, ServerPool

pytestmark = pytest.mark.integration
CASES = {case.case_id: case for case in iter_cases()}  # built once; URLs rebased per group below


def group_key(case: Case) -> str:
    phases = {url: [phase.document for phase in p] for url, p in case.jwks_by_url.items()}
    return json.dumps([case.issuer_config_mappings, phases], sort_keys=True)


GROUPS = {key: index for index, key in enumerate(dict.fromkeys(group_key(c) for c in CASES.values()))}


def _params() -> list[Any]:
    params = []
    for case in CASES.values():
        if case.needs_time_travel:
            reason = "needs the JWKS cache's monotonic clock"
            mark = pytest.mark.skip(reason=f"not replayable over gRPC: {reason}")
            params.append(pytest.param(case.case_id, id=f"{case.case_id}[skip: {reason}]", marks=mark))
        else:
            params.append(pytest.param(case.case_id, id=case.case_id))
    return params


@pytest.fixture(scope="module")
def jwks() -> Iterator[JwksServer]:
    with jwks_server() as running:
        yield running


def rebase(case: Case, base: str) -> Case:
    """The same case with its JWKS URLs under `base` (tokens do not name the JWKS URL)."""
    text = json.dumps(case.issuer_config_mappings).replace(DEFAULT_JWKS_BASE, base)
    jwks = {url.replace(DEFAULT_JWKS_BASE, base): phases for url, phases in case.jwks_by_url.items()}
    return case._replace(issuer_config_mappings=json.loads(text), jwks_by_url=jwks)


def serve_phase(jwks: JwksServer, case: Case, index: int) -> None:
    for url, phases in case.jwks_by_url.items():
        jwks.set(urlsplit(url).path, phases[min(index, len(phases) - 1)].document)


def server_for(case: Case, pool: ServerPool, jwks: JwksServer) -> MeshgateServer:
    def make(_directory: Path) -> tuple[RawConfig, FixedClock]:
        serve_phase(jwks, case, 0)  # the service fetches these keys before it answers (start(wait=True))
        return {"oidc": {"issuers": case.issuer_config_mappings, **settings()}}, FixedClock(case.now)

    return pool.get(group_key(case), make)


def replay_later_phases(server: MeshgateServer, jwks: JwksServer, case: Case) -> None:
    tokens = server.components.tokens
    assert tokens is not None
    for index in range(1, max(len(phases) for phases in case.jwks_by_url.values())):
        serve_phase(jwks, case, index)
        for issuer in case.issuer_config_mappings:
            tokens.keys.refresh(issuer["issuer"])


def set_clock(server: MeshgateServer, now: datetime) -> None:
    clock = server.clock
    assert isinstance(clock, FixedClock)
    clock.advance(now.timestamp() - clock.now().timestamp())


def authenticate(server: MeshgateServer, token: str) -> pb.AuthenticateResponse:
    request = pb.AuthenticateRequest(
        credential=pb.Credential(token=token),
        peer=pb.Peer(address="127.0.0.1:40001", auth_method="token", transport="binary"),
        request_id="oidc-conformance",
    )
    response: pb.AuthenticateResponse = server.stubs.authentication.Authenticate(request, timeout=10)
    return response


@pytest.mark.parametrize("case_id", _params())
def test_case_over_grpc(case_id: str, server_pool: ServerPool, jwks: JwksServer) -> None:
    original = CASES[case_id]
    case = rebase(original, f"{jwks.base_url}/g{GROUPS[group_key(original)]}")
    server = server_for(case, server_pool, jwks)
    replay_later_phases(server, jwks, case)
    set_clock(server, case.now)
    expected = case.expected
    identity = identity_or_rejection(authenticate(server, case.token), expected.error)
    if identity is None:
        return
    assert identity.principal == expected.principal
    if expected.kind is not None:
        assert identity.credential_kind == expected.kind
    assert identity.expires_at_unix_ms > int(case.now.timestamp() * 1000) - 60_000


def test_groups_share_servers() -> None:
    """Most cases share the default configuration, so the table needs far fewer servers than cases."""
    assert len(GROUPS) * 3 < len(CASES)
    assert sum(case.needs_time_travel for case in CASES.values()) <= 2
