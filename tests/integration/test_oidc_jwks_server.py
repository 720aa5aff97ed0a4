"""Integration: JWKS rotation, outage, Cache-Control and endpoint hardening against a real HTTP JWKS server
(tests.support.jwks_server), through UrllibFetcher + JwksCache + TokenAuthenticator. Loopback only."""

from __future__ import annotations

import secrets
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # `tests.*` helpers; pytest adds only this dir

from meshgate.clock import FixedClock
from meshgate.oidc import KeyState, OidcSettings, TokenAuthenticator, authenticate_token_once, parse_issuers

from tests.conformance.oidc.fakes import FakeMonotonic
from tests.conformance.oidc.mint import jwks_document, mint, signing_keys
from tests.support.jwks_server import JwksServer, jwks_server
from tests.support.oidc_calls import NOW, T
from tests.support.oidc_calls import refusal_code as _code

pytestmark = pytest.mark.integration


SSO = "https://sso.example.test"
SETTINGS = OidcSettings(
    refresh_default_seconds=300,
    refresh_min_seconds=60,
    refresh_max_seconds=600,
    max_stale_seconds=3600,
    unknown_kid_interval_seconds=30,
    token_cache_size=0,
)


@pytest.fixture
def server() -> Iterator[JwksServer]:
    with jwks_server() as running:
        running.set("/jwks.json", jwks_document(["rsa1"]))
        yield running


def _auth(server: JwksServer, mono: FakeMonotonic, path: str = "/jwks.json") -> TokenAuthenticator:
    raw = {"issuer": SSO, "jwks_url": server.url(path), "audiences": ["pulsar"]}
    return TokenAuthenticator.from_config(
        parse_issuers([raw]), SETTINGS, FixedClock(NOW), monotonic_clock=mono
    )


def _token(key: str, kid: str | None = None) -> str:
    signing = signing_keys()[key]
    payload = {"iss": SSO, "sub": "alice", "aud": "pulsar", "exp": T + 300, "iat": T}
    return mint(signing, {"alg": "RS256", "kid": kid or signing.kid}, payload)


def test_rotation_new_kid_accepted_removed_kid_rejected(server: JwksServer) -> None:
    mono = FakeMonotonic()
    auth = _auth(server, mono)

    def scenario() -> list[str]:
        auth.start()
        first = (auth.authenticate(_token("rsa1"))).principal
        server.set("/jwks.json", jwks_document(["rsa1", "rsa2"]))
        rotated = (auth.authenticate(_token("rsa2"))).principal  # unknown kid -> refetch -> retry
        server.set("/jwks.json", jwks_document(["rsa2"]))
        auth.keys.refresh(SSO)
        removed = _code(auth, _token("rsa1"))
        auth.close()
        return [first, rotated, removed]

    assert scenario() == [f"oidc:{SSO}#alice"] * 2 + ["unknown_kid"]
    assert server.hits("/jwks.json") == 3


def test_random_kid_storm_hits_the_server_at_most_once_per_interval(server: JwksServer) -> None:
    mono = FakeMonotonic()
    auth = _auth(server, mono)

    def storm() -> set[str]:
        tokens = [_token("rsa1", kid=secrets.token_hex(6)) for _ in range(100)]
        with ThreadPoolExecutor(16) as workers:  # as the gRPC worker threads ask
            return set(workers.map(lambda t: _code(auth, t), tokens))

    def scenario() -> list[int]:
        auth.start()
        assert storm() == {"unknown_kid"}
        after_first = server.hits("/jwks.json")
        mono.advance(30)
        assert storm() == {"unknown_kid"}
        auth.close()
        return [after_first, server.hits("/jwks.json")]

    assert scenario() == [2, 3]


def test_outage_within_and_beyond_stale_bound_then_recovery(server: JwksServer) -> None:
    mono = FakeMonotonic()
    auth = _auth(server, mono)
    token = _token("rsa1")

    def scenario() -> list[str]:
        auth.start()
        server.set("/jwks.json", None)  # HTTP 503
        mono.advance(3000)
        refreshed = auth.keys.refresh(SSO)
        within = (auth.authenticate(token)).principal
        mono.advance(601)
        beyond = _code(auth, token)
        server.set("/jwks.json", jwks_document(["rsa1"]))
        auth.keys.refresh(SSO)
        recovered = (auth.authenticate(token)).principal
        auth.close()
        return [str(refreshed), within, beyond, recovered]

    principal = f"oidc:{SSO}#alice"
    assert scenario() == ["False", principal, "jwks_unavailable", principal]


@pytest.mark.parametrize(("max_age", "fresh_for"), [(120, 120), (5, 60), (100000, 600), (None, 300)])
def test_cache_control_max_age_within_bounds(server: JwksServer, max_age: int | None, fresh_for: int) -> None:
    server.max_age = max_age
    mono = FakeMonotonic()
    auth = _auth(server, mono)

    def scenario() -> list[KeyState]:
        auth.start()
        mono.advance(fresh_for - 1)
        before = auth.keys.snapshot(SSO).state
        mono.advance(2)
        after = auth.keys.snapshot(SSO).state
        auth.close()
        return [before, after]

    assert scenario() == [KeyState.FRESH, KeyState.STALE]


def test_discovery_against_real_server(server: JwksServer) -> None:
    server.set(
        "/.well-known/openid-configuration", {"issuer": server.base_url, "jwks_uri": server.url("/jwks.json")}
    )
    raw = {"issuer": server.base_url, "audiences": ["pulsar"]}
    signing = signing_keys()["rsa1"]
    token = mint(
        signing,
        {"alg": "RS256", "kid": "rsa-1"},
        {"iss": server.base_url, "sub": "a", "aud": "pulsar", "exp": T + 9},
    )
    identity = authenticate_token_once(parse_issuers([raw]), token, FixedClock(NOW))
    assert identity.principal == f"oidc:{server.base_url}#a"


@pytest.mark.parametrize("setup", ["redirect", "too_large", "not_found", "discovery_mismatch"])
def test_unusable_endpoints_never_yield_keys(server: JwksServer, setup: str) -> None:
    path = "/keys"
    if setup == "redirect":
        server.redirect(path, server.url("/jwks.json"))
    elif setup == "too_large":
        server.set(path, {"keys": [], "pad": "x" * 70000})
    elif setup == "discovery_mismatch":
        server.set(
            "/.well-known/openid-configuration",
            {"issuer": "https://evil", "jwks_uri": server.url("/jwks.json")},
        )
    raw: dict[str, Any] = {"issuer": server.base_url, "audiences": ["pulsar"]}
    if setup != "discovery_mismatch":
        raw["jwks_url"] = server.url(path)
    auth = TokenAuthenticator.from_config(parse_issuers([raw]), SETTINGS, FixedClock(NOW))

    def scenario() -> KeyState:
        started = time.monotonic()
        auth.start()
        assert time.monotonic() - started < 5
        state = auth.keys.snapshot(server.base_url).state
        auth.close()
        return state

    assert scenario() is KeyState.NEVER_LOADED
    assert server.hits("/jwks.json") == 0
