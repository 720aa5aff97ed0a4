"""TokenAuthenticator: unknown-kid refetch + retry, storms, bounded waits, verified-token cache;
authenticate_token_once for the CLI."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Coroutine
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


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


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

    async def code(self, token: str) -> str:
        with pytest.raises(AuthenticationError) as info:
            await self.auth.authenticate(token)
        return info.value.code


def test_unknown_kid_triggers_one_refetch_then_retry() -> None:
    h = Harness(["rsa1"])

    async def scenario() -> str:
        await h.auth.start()
        h.fetcher.documents[JWKS] = jwks_document(["rsa1", "rsa2"])  # the IdP rotated
        identity = await h.auth.authenticate(_token("rsa2"))
        await h.auth.close()
        return identity.principal

    assert run(scenario()) == f"oidc:{ISS}#alice"
    assert h.fetcher.calls.count(JWKS) == 2


def test_random_kid_storm_costs_at_most_one_fetch_per_interval() -> None:
    h = Harness()

    async def scenario() -> set[str]:
        await h.auth.start()
        tokens = [_token(kid=secrets.token_hex(8)) for _ in range(300)]
        codes = await asyncio.gather(*(h.code(t) for t in tokens))
        await h.auth.close()
        return set(codes)

    assert run(scenario()) == {"unknown_kid"}
    assert h.fetcher.calls.count(JWKS) == 2  # initial load + one refetch
    assert h.fetcher.calls.count(OTHER_JWKS) == 1  # other issuers are untouched


def test_unknown_kid_wait_is_bounded() -> None:
    h = Harness(settings=OidcSettings(unknown_kid_wait_seconds=0.05))

    async def scenario() -> str:
        await h.auth.start()
        h.fetcher.gate = asyncio.Event()  # the refetch hangs
        code = await asyncio.wait_for(h.code(_token(kid="nope")), timeout=2)
        h.fetcher.gate.set()
        await h.auth.close()
        return code

    assert run(scenario()) == "unknown_kid"


def test_verified_tokens_are_cached_until_ttl() -> None:
    h = Harness()

    async def scenario() -> list[object]:
        await h.auth.start()
        token = _token()
        first = await h.auth.authenticate(token)
        hit = await h.auth.authenticate(token)  # the very object the cache holds
        h.clock.advance(60)
        after_ttl = await h.auth.authenticate(token)  # verified again
        h.fetcher.documents[JWKS] = jwks_document(["rsa2"])
        await h.auth.keys.refresh(ISS)  # key removed: the cached verification goes with it (catalogue J21)
        code = await h.code(token)
        await h.auth.close()
        return [hit is first, after_ttl is first, after_ttl.principal, code]

    assert run(scenario()) == [True, False, f"oidc:{ISS}#alice", "unknown_kid"]


class SwapMidway:
    """A validator whose key set is replaced (as the loop's JWKS refresh may) while it validates."""

    def __init__(self, h: Harness) -> None:
        self.h, self.inner, self.swaps = h, TokenValidator(ISSUERS, h.auth.keys, h.clock), 1

    def validate_keyed(self, token: str) -> Any:
        verified = self.inner.validate_keyed(token)
        if self.swaps:
            self.swaps -= 1
            self.h.fetcher.documents[JWKS] = jwks_document(["rsa1", "rsa2"])
            run(self.h.auth.keys.refresh(ISS))
        return verified


def test_a_token_verified_with_a_key_set_replaced_meanwhile_is_not_cached() -> None:
    """The cache entry is tagged with the key set that verified it, never with one read afterwards: a set
    replaced mid-validation (its key perhaps revoked) never backs a cached answer."""
    h = Harness()
    run(h.auth.keys.refresh(ISS))
    auth = TokenAuthenticator(SwapMidway(h), h.auth.keys, h.clock, SETTINGS)  # type: ignore[arg-type]
    token = _token()
    never = lambda issuer: False  # noqa: E731  # no unknown kid here
    assert auth.authenticate_sync(token, never).principal == f"oidc:{ISS}#alice"
    assert len(auth.tokens) == 0
    assert auth.authenticate_sync(token, never).principal == f"oidc:{ISS}#alice"  # the set stayed: cached
    assert len(auth.tokens) == 1


def test_cache_entry_ends_at_exp_and_lru_is_bounded() -> None:
    h = Harness()

    async def scenario() -> list[str]:
        await h.auth.start()
        short = _token(exp=T + 10)
        await h.auth.authenticate(short)
        h.clock.advance(10)
        expired = await h.code(short)
        for i in range(5):
            await h.auth.authenticate(_token(jti=str(i)))
        await h.auth.close()
        return [expired]

    assert run(scenario()) == ["expired"]
    assert len(h.auth.tokens) == 2


def test_failures_are_not_cached() -> None:
    h = Harness()
    h.fetcher.documents[JWKS] = None

    async def scenario() -> list[str]:
        await h.auth.start()
        token = _token()
        down = await h.code(token)
        h.fetcher.documents[JWKS] = jwks_document(["rsa1"])
        await h.auth.keys.refresh(ISS)
        identity = await h.auth.authenticate(token)
        await h.auth.close()
        return [down, identity.principal]

    assert run(scenario()) == ["jwks_unavailable", f"oidc:{ISS}#alice"]


def test_oversized_token_skips_the_cache() -> None:
    h = Harness()
    assert run(h.code("a" * 20000)) == "token_too_large"


def test_authenticate_token_once_fetches_only_the_token_issuer() -> None:
    fetcher = FakeFetcher({JWKS: jwks_document(["rsa1"]), OTHER_JWKS: jwks_document(["k8s1"])})
    identity = run(authenticate_token_once(ISSUERS, _token(), FixedClock(NOW), fetcher=fetcher))
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
        run(authenticate_token_once(ISSUERS, token, FixedClock(NOW), fetcher=fetcher))
    assert (info.value.code, len(fetcher.calls)) == (code, calls)


def test_authenticate_token_once_with_idp_down() -> None:
    fetcher = FakeFetcher({JWKS: None})
    with pytest.raises(AuthenticationError) as info:
        run(authenticate_token_once(ISSUERS, _token(), FixedClock(NOW), fetcher=fetcher))
    assert info.value.code == "jwks_unavailable"
