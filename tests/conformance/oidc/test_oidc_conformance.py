"""Run every case of cases.yaml in-process: JwksCache (fake fetcher, fake monotonic clock) + TokenValidator,
and again through TokenAuthenticator. The gRPC runner (server team) uses the same `iter_cases`."""

from __future__ import annotations

import pytest
from meshgate.clock import FixedClock
from meshgate.errors import AuthenticationError
from meshgate.model import Identity
from meshgate.oidc import (
    JwksCache,
    TokenAuthenticator,
    TokenValidator,
    parse_issuers,
    parse_oidc_settings,
)

from tests.conformance.oidc.build import Case, Expected, iter_cases, settings
from tests.conformance.oidc.fakes import FakeFetcher, FakeMonotonic

CASES = list(iter_cases())


def _replay_jwks(case: Case, cache: JwksCache, fetcher: FakeFetcher, mono: FakeMonotonic) -> None:
    issuers = [cfg["issuer"] for cfg in case.issuer_config_mappings]
    rounds = max(len(phases) for phases in case.jwks_by_url.values())
    for i in range(rounds):
        phases = {url: phases[min(i, len(phases) - 1)] for url, phases in case.jwks_by_url.items()}
        fetcher.documents = {url: phase.document for url, phase in phases.items()}
        for issuer in issuers:
            cache.refresh(issuer)
        mono.advance(max(phase.elapse_seconds for phase in phases.values()))


def _run(case: Case, *, facade: bool) -> Identity:
    issuers = parse_issuers(case.issuer_config_mappings)
    oidc_settings = parse_oidc_settings(settings())
    fetcher, mono, clock = FakeFetcher(), FakeMonotonic(), FixedClock(case.now)
    auth = TokenAuthenticator.from_config(
        issuers, oidc_settings, clock, fetcher=fetcher, monotonic_clock=mono
    )
    try:
        _replay_jwks(case, auth.keys, fetcher, mono)
        if facade:
            return auth.authenticate(case.token)
        return TokenValidator(issuers, auth.keys, clock).validate(case.token)
    finally:
        auth.close()


def _check(expected: Expected, run: Identity | BaseException) -> None:
    if expected.error is not None:
        assert isinstance(run, AuthenticationError), f"expected {expected.error}, got {run!r}"
        assert run.code == expected.error
        return
    assert isinstance(run, Identity), f"expected {expected.principal}, got {run!r}"
    assert run.principal == expected.principal
    if expected.kind is not None:
        assert run.kind.value == expected.kind
    if expected.attributes is not None:
        assert dict(run.attributes) == expected.attributes


def _outcome(case: Case, *, facade: bool) -> Identity | BaseException:
    try:
        return _run(case, facade=facade)
    except AuthenticationError as exc:
        return exc


def test_table_has_enough_cases() -> None:
    assert len(CASES) >= 25
    assert len({case.case_id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.case_id for case in CASES])
def test_validator(case: Case) -> None:
    _check(case.expected, _outcome(case, facade=False))


@pytest.mark.parametrize("case", CASES, ids=[case.case_id for case in CASES])
def test_authenticator(case: Case) -> None:
    _check(case.expected, _outcome(case, facade=True))
