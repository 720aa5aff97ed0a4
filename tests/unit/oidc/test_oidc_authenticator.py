"""TokenAuthenticator: unknown-kid refetch + retry, storms, bounded waits (by the setting and by the
caller's budget), verified-token cache; authenticate_token_once for the CLI. Tokens are validated in the
calling thread, as a gRPC worker does."""

from __future__ import annotations

import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from meshgate.clock import FixedClock
from meshgate.errors import AuthenticationError
from meshgate.oidc import (
    OidcSettings,
    TokenAuthenticator,
    TokenValidator,
    authenticate_token_once,
    parse_issuers,
)

from tests.conformance.oidc.fakes import FakeFetcher, FakeMonotonic
from tests.conformance.oidc.mint import jwks_document, mint, signing_keys

ISS = "https://sso.example.test"
JWKS = "https://sso.example.test/jwks"
OTHER, OTHER_JWKS = "https://other.example.test", "https://other.example.test/jwks"
NOW = datetime(2030, 1, 1, tzinfo=UTC)
T = int(NOW.timestamp())
SETTINGS = OidcSettings(unknown_kid_interval_seconds=30, token_cache_size=2, token_cache_ttl_seconds=60)
ISSUERS = parse_issuers(
    [
        {"issuer": ISS, "jwks_url": JWKS, "audiences": ["pulsar"]},
        {"issuer": OTHER, "jwks_url": OTHER_JWKS, "audiences": ["pulsar"]},
    ]
)


def _token(key: str = "rsa1", kid: str | None = None, iss: str = ISS, **claims: Any) -> str:
    signing = signing_keys()[key]
    payload = {"iss": iss, "sub": "alice", "aud": "pulsar", "exp": T + 300, **claims}
    return mint(signing, {"alg": "RS256", "kid": kid or signing.kid}, payload)


class Harness:
    def __init__(self, keys: list[str] | None = None, settings: OidcSettings = SETTINGS) -> None:
        docs = {JWKS: jwks_document(keys or ["rsa1"]), OTHER_JWKS: jwks_document(["k8s1"])}
        self.fetcher, self.mono, self.clock = FakeFetcher(docs), FakeMonotonic(), FixedClock(NOW)
        self.auth = TokenAuthenticator.from_config(
            ISSUERS, settings, self.clock, fetcher=self.fetcher, monotonic_clock=self.mono
        )

    def code(self, token: str, budget: float | None = None) -> str:
        with pytest.raises(AuthenticationError) as info:
            self.auth.authenticate(token, budget)
        return info.value.code


def test_unknown_kid_triggers_one_refetch_then_retry() -> None:
    h = Harness(["rsa1"])
    h.auth.start()
    h.fetcher.documents[JWKS] = jwks_document(["rsa1", "rsa2"])  # the IdP rotated
    identity = h.auth.authenticate(_token("rsa2"))
    h.auth.close()
    assert identity.principal == f"oidc:{ISS}#alice"
    assert h.fetcher.calls.count(JWKS) == 2


def test_random_kid_storm_costs_at_most_one_fetch_per_interval() -> None:
    h = Harness()
    h.auth.start()
    tokens = [_token(kid=secrets.token_hex(8)) for _ in range(300)]
    with ThreadPoolExecutor(16) as workers:  # as the gRPC worker threads ask
        codes = set(workers.map(h.code, tokens))
    h.auth.close()
    assert codes == {"unknown_kid"}
    assert h.fetcher.calls.count(JWKS) == 2  # initial load + one refetch
    assert h.fetcher.calls.count(OTHER_JWKS) == 1  # other issuers are untouched


def test_unknown_kid_wait_is_bounded() -> None:
    h = Harness(settings=OidcSettings(unknown_kid_wait_seconds=0.05))
    h.auth.start()
    h.fetcher.gate = threading.Event()  # the refetch hangs
    started = time.monotonic()
    code = h.code(_token(kid="nope"))
    assert time.monotonic() - started < 2
    h.fetcher.gate.set()
    h.auth.close()
    assert code == "unknown_kid"


def test_verified_tokens_are_cached_until_ttl() -> None:
    h = Harness()
    h.auth.start()
    token = _token()
    first = h.auth.authenticate(token)
    hit = h.auth.authenticate(token)  # from the cache: an equal identity
    h.clock.advance(60)
    after_ttl = h.auth.authenticate(token)  # verified again
    hits = h.auth.tokens.hits
    h.fetcher.documents[JWKS] = jwks_document(["rsa2"])
    h.auth.keys.refresh(ISS)  # key removed: the cached verification goes with it (catalogue J21)
    code = h.code(token)
    h.auth.close()
    assert [hit == first, hits, after_ttl.principal, code] == [
        True, 1, f"oidc:{ISS}#alice", "unknown_kid"
    ]  # fmt: skip


class SwapMidway:
    """A validator whose key set is replaced (as the JWKS refresh thread may) while it validates."""

    def __init__(self, h: Harness) -> None:
        self.h, self.inner, self.swaps = h, TokenValidator(ISSUERS, h.auth.keys, h.clock), 1

    def validate_keyed(self, token: str) -> Any:
        verified = self.inner.validate_keyed(token)
        if self.swaps:
            self.swaps -= 1
            self.h.fetcher.documents[JWKS] = jwks_document(["rsa1", "rsa2"])
            self.h.auth.keys.refresh(ISS)
        return verified


def test_a_token_verified_with_a_key_set_replaced_meanwhile_is_not_cached() -> None:
    """The cache entry is tagged with the key set that verified it, never with one read afterwards: a set
    replaced mid-validation (its key perhaps revoked) never backs a cached answer."""
    h = Harness()
    h.auth.keys.refresh(ISS)
    auth = TokenAuthenticator(SwapMidway(h), h.auth.keys, h.clock, SETTINGS)  # type: ignore[arg-type]
    token = _token()
    assert auth.authenticate(token).principal == f"oidc:{ISS}#alice"
    assert len(auth.tokens) == 0
    assert auth.authenticate(token).principal == f"oidc:{ISS}#alice"  # the set stayed: cached
    assert len(auth.tokens) == 1


def test_cache_entry_ends_at_exp_and_lru_is_bounded() -> None:
    h = Harness()
    h.auth.start()
    short = _token(exp=T + 10)
    h.auth.authenticate(short)
    h.clock.advance(10)
    expired = h.code(short)
    for i in range(5):
        h.auth.authenticate(_token(jti=str(i)))
    h.auth.close()
    assert expired == "expired"
    assert len(h.auth.tokens) == 2


def test_failures_are_not_cached() -> None:
    h = Harness()
    h.fetcher.documents[JWKS] = None
    h.auth.start()
    token = _token()
    down = h.code(token)
    h.fetcher.documents[JWKS] = jwks_document(["rsa1"])
    h.auth.keys.refresh(ISS)
    identity = h.auth.authenticate(token)
    h.auth.close()
    assert [down, identity.principal] == ["jwks_unavailable", f"oidc:{ISS}#alice"]


def test_oversized_token_skips_the_cache() -> None:
    h = Harness()
    assert h.code("a" * 20000) == "token_too_large"


def test_authenticate_token_once_fetches_only_the_token_issuer() -> None:
    fetcher = FakeFetcher({JWKS: jwks_document(["rsa1"]), OTHER_JWKS: jwks_document(["k8s1"])})
    identity = authenticate_token_once(ISSUERS, _token(), FixedClock(NOW), fetcher=fetcher)
    assert identity.principal == f"oidc:{ISS}#alice"
    assert fetcher.calls == [JWKS]


@pytest.mark.parametrize(
    ("token", "code", "calls"),
    [
        ("garbage", "malformed", 0),
        (_token(iss="https://evil"), "wrong_issuer", 0),
        (_token(exp=T), "expired", 1),
    ],
)
def test_authenticate_token_once_errors(token: str, code: str, calls: int) -> None:
    fetcher = FakeFetcher({JWKS: jwks_document(["rsa1"])})
    with pytest.raises(AuthenticationError) as info:
        authenticate_token_once(ISSUERS, token, FixedClock(NOW), fetcher=fetcher)
    assert (info.value.code, len(fetcher.calls)) == (code, calls)


def test_authenticate_token_once_with_idp_down() -> None:
    fetcher = FakeFetcher({JWKS: None})
    with pytest.raises(AuthenticationError) as info:
        authenticate_token_once(ISSUERS, _token(), FixedClock(NOW), fetcher=fetcher)
    assert info.value.code == "jwks_unavailable"


def test_a_known_key_is_validated_in_the_calling_thread() -> None:
    h = Harness(["rsa1"])
    h.auth.start()
    assert h.auth.authenticate(_token("rsa1")).principal == f"oidc:{ISS}#alice"
    h.auth.close()
    assert h.fetcher.calls.count(JWKS) == 1  # the start-up fetch only


def test_an_unknown_kid_is_refetched_within_the_budget_then_validated() -> None:
    h = Harness(["rsa1"])
    h.auth.start()
    h.fetcher.documents[JWKS] = jwks_document(["rsa1", "rsa2"])  # the IdP rotated
    assert h.auth.authenticate(_token("rsa2"), budget=5.0).principal == f"oidc:{ISS}#alice"
    h.auth.close()
    assert h.fetcher.calls.count(JWKS) == 2


def test_a_refetch_slower_than_the_budget_rejects_the_token_in_time() -> None:
    h = Harness(["rsa1"])
    h.auth.start()
    h.fetcher.documents[JWKS] = jwks_document(["rsa1", "rsa2"])
    h.fetcher.gate = threading.Event()  # the IdP hangs
    started = time.monotonic()
    assert h.code(_token("rsa2"), budget=0.2) == "unknown_kid"
    assert time.monotonic() - started < 1.0
    h.fetcher.gate.set()
    h.auth.close()
