"""Integration: the whole OIDC conformance table with keys served by a real HTTP JWKS server (UrllibFetcher),
the shape the gRPC runner uses: `iter_cases(jwks_base=<server>)`, one refresh per JWKS phase."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # `tests.*` helpers; pytest adds only this dir

from meshgate.clock import FixedClock
from meshgate.errors import AuthenticationError
from meshgate.model import Identity
from meshgate.oidc import TokenAuthenticator, parse_issuers, parse_oidc_settings

from tests.conformance.oidc.build import Case, iter_cases, settings
from tests.conformance.oidc.fakes import FakeMonotonic
from tests.support.jwks_server import JwksServer, jwks_server

pytestmark = pytest.mark.integration
CASE_IDS = [case.case_id for case in iter_cases()]


@pytest.fixture(scope="module")
def server() -> Iterator[JwksServer]:
    with jwks_server() as running:
        yield running


def _run(case: Case, server: JwksServer) -> Identity | AuthenticationError:
    mono = FakeMonotonic()
    issuers = parse_issuers(case.issuer_config_mappings)
    auth = TokenAuthenticator.from_config(
        issuers, parse_oidc_settings(settings()), FixedClock(case.now), monotonic_clock=mono
    )
    rounds = max(len(phases) for phases in case.jwks_by_url.values())
    try:
        for i in range(rounds):
            for url, phases in case.jwks_by_url.items():
                server.set(urlsplit(url).path, phases[min(i, len(phases) - 1)].document)
            for cfg in issuers:
                auth.keys.refresh(cfg.issuer)
            mono.advance(
                max(phases[min(i, len(phases) - 1)].elapse_seconds for phases in case.jwks_by_url.values())
            )
        return auth.authenticate(case.token)
    except AuthenticationError as exc:
        return exc
    finally:
        auth.close()


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_case_over_http(server: JwksServer, case_id: str) -> None:
    case = next(c for c in iter_cases(server.base_url) if c.case_id == case_id)
    outcome = _run(case, server)
    if case.expected.error is not None:
        assert isinstance(outcome, AuthenticationError), outcome
        assert outcome.code == case.expected.error
    else:
        assert isinstance(outcome, Identity), outcome
        assert outcome.principal == case.expected.principal
