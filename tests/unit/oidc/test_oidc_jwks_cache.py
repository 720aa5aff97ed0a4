"""JwksCache contract: freshness states, last-good on failure, removal, max-age bounds, single flight,
unknown-kid rate limit, discovery, background refresh (on threads, as the gRPC workers read it)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from meshgate.oidc import FetchResult, JwksCache, KeyState, OidcSettings, parse_issuers

from tests.conformance.oidc.fakes import FakeFetcher, FakeMonotonic
from tests.conformance.oidc.mint import jwks_document

ISS = "https://sso.example.test"
JWKS = "https://sso.example.test/jwks"
SETTINGS = OidcSettings(
    refresh_default_seconds=300,
    refresh_min_seconds=60,
    refresh_max_seconds=600,
    max_stale_seconds=3600,
    unknown_kid_interval_seconds=30,
)


def _cache(
    fetcher: FakeFetcher, mono: FakeMonotonic, settings: OidcSettings = SETTINGS, **issuer: Any
) -> JwksCache:
    raw = {"issuer": ISS, "jwks_url": JWKS, "audiences": ["pulsar"], **issuer}
    return JwksCache(parse_issuers([raw]), settings, fetcher=fetcher, monotonic_clock=mono)


def _setup(keys: list[str] | None = None) -> tuple[FakeFetcher, FakeMonotonic, JwksCache]:
    fetcher, mono = FakeFetcher({JWKS: jwks_document(keys or ["rsa1"])}), FakeMonotonic()
    return fetcher, mono, _cache(fetcher, mono)


def test_states_over_time() -> None:
    _, mono, cache = _setup()
    assert cache.snapshot(ISS).state is KeyState.NEVER_LOADED
    assert cache.snapshot("https://other").state is KeyState.NEVER_LOADED
    assert cache.refresh(ISS) is True
    assert cache.snapshot(ISS).state is KeyState.FRESH
    mono.advance(301)
    assert cache.snapshot(ISS).state is KeyState.STALE
    mono.advance(3300)
    snap = cache.snapshot(ISS)
    assert (snap.state, snap.usable, list(snap.keys)) == (KeyState.EXPIRED, False, ["rsa-1"])


def test_still_current_is_the_snapshot_check_a_cached_token_needs() -> None:
    """`still_current(issuer, keys)` is `snapshot.usable and snapshot.keys is keys` in every state."""
    fetcher, mono, cache = _setup()

    def both(keys: object) -> tuple[bool, bool]:
        snap = cache.snapshot(ISS)
        return cache.still_current(ISS, keys), snap.usable and snap.keys is keys

    seen = [both(None)]  # never loaded
    cache.refresh(ISS)
    first = cache.snapshot(ISS).keys
    seen += [both(first), both(None), both(dict(first))]  # fresh; not the set; an equal copy is not it
    mono.advance(301)
    seen.append(both(first))  # stale: still usable
    fetcher.documents[JWKS] = jwks_document(["rsa2"])
    cache.refresh(ISS)
    seen += [both(first), both(cache.snapshot(ISS).keys)]  # replaced: the old set no longer counts
    mono.advance(3601)
    seen.append(both(cache.snapshot(ISS).keys))  # expired
    assert all(new == old for new, old in seen)
    assert [new for new, _ in seen] == [False, True, False, False, True, False, True, False]
    assert cache.still_current("https://other", first) is False


def test_failed_refresh_keeps_last_good_keys_until_stale_bound() -> None:
    fetcher, mono, cache = _setup()
    cache.refresh(ISS)
    fetcher.documents[JWKS] = None
    mono.advance(3000)
    assert cache.refresh(ISS) is False
    assert "503" in cache.last_error(ISS)
    snap = cache.snapshot(ISS)
    assert (snap.state, list(snap.keys)) == (KeyState.STALE, ["rsa-1"])
    mono.advance(601)
    assert cache.snapshot(ISS).state is KeyState.EXPIRED


@pytest.mark.parametrize("document", [{"keys": []}, {"nope": 1}, {"keys": [{"kty": "RSA", "use": "enc"}]}])
def test_garbage_document_keeps_last_good_keys(document: dict[str, Any]) -> None:
    fetcher, _, cache = _setup()
    cache.refresh(ISS)
    fetcher.documents[JWKS] = document
    assert cache.refresh(ISS) is False
    assert list(cache.snapshot(ISS).keys) == ["rsa-1"]


def test_removed_key_disappears_on_next_successful_refresh() -> None:
    fetcher, _, cache = _setup(["rsa1", "rsa2"])
    cache.refresh(ISS)
    fetcher.documents[JWKS] = jwks_document(["rsa2"])
    cache.refresh(ISS)
    assert list(cache.snapshot(ISS).keys) == ["rsa-2"]


@pytest.mark.parametrize(("max_age", "interval"), [(None, 300), (10, 60), (120, 120), (99999, 600), (0, 60)])
def test_max_age_clamped_into_bounds(max_age: float | None, interval: float) -> None:
    fetcher, mono, cache = _setup()
    fetcher.max_age = max_age
    cache.refresh(ISS)
    mono.advance(interval)
    assert cache.snapshot(ISS).state is KeyState.FRESH
    mono.advance(0.5)
    assert cache.snapshot(ISS).state is KeyState.STALE


def test_unknown_kid_refetch_is_rate_limited_and_single_flight() -> None:
    fetcher, mono, cache = _setup()
    cache.refresh(ISS)
    fetcher.calls.clear()
    fetcher.gate = threading.Event()
    asking = threading.Barrier(201)

    def ask() -> bool:
        asking.wait(10)
        return cache.refresh_unknown_kid(ISS)

    with ThreadPoolExecutor(200) as callers:  # 200 worker threads ask at once, while the one fetch holds
        waiters = [callers.submit(ask) for _ in range(200)]
        asking.wait(10)
        time.sleep(0.5)  # for every caller to join the fetch in flight (a lock and a wait each)
        fetcher.gate.set()
        results = [w.result(10) for w in waiters]
    fetcher.gate = None
    assert len(fetcher.calls) == 1 and all(results)
    assert cache.refresh_unknown_kid(ISS) is False  # within the interval: no fetch at all
    assert len(fetcher.calls) == 1
    mono.advance(30)
    assert cache.refresh_unknown_kid(ISS) is True
    assert len(fetcher.calls) == 2
    assert cache.refresh_unknown_kid("https://unknown") is False


def test_discovery_resolves_jwks_uri() -> None:
    discovery = f"{ISS}/.well-known/openid-configuration"
    fetcher = FakeFetcher({discovery: {"issuer": ISS, "jwks_uri": JWKS}, JWKS: jwks_document(["rsa1"])})
    cache = _cache(fetcher, FakeMonotonic(), jwks_url=None)
    assert cache.refresh(ISS) is True
    assert fetcher.calls == [discovery, JWKS]


@pytest.mark.parametrize(
    "doc",
    [
        {"issuer": ISS + "/", "jwks_uri": JWKS},
        {"issuer": ISS, "jwks_uri": "http://evil.example/jwks"},
        {"issuer": ISS},
    ],
)
def test_discovery_must_match_issuer_and_use_https(doc: dict[str, Any]) -> None:
    discovery = f"{ISS}/.well-known/openid-configuration"
    fetcher = FakeFetcher({discovery: doc, JWKS: jwks_document(["rsa1"]), "http://evil.example/jwks": {}})
    cache = _cache(fetcher, FakeMonotonic(), jwks_url=None)
    assert cache.refresh(ISS) is False
    assert fetcher.calls == [discovery]


def test_crashing_fetcher_does_not_escape() -> None:
    class Broken:
        def fetch(self, url: str) -> FetchResult:
            raise RuntimeError("bug")

    raw = {"issuer": ISS, "jwks_url": JWKS, "audiences": ["pulsar"]}
    cache = JwksCache(parse_issuers([raw]), SETTINGS, fetcher=Broken())
    assert cache.refresh(ISS) is False
    assert cache.last_error(ISS) == "unexpected RuntimeError"


def test_background_refresh_runs_until_close() -> None:
    fast = OidcSettings(
        refresh_default_seconds=0.02,
        refresh_min_seconds=0.01,
        refresh_max_seconds=0.05,
        retry_seconds=0.01,
        max_stale_seconds=10,
    )
    fetcher = FakeFetcher({JWKS: jwks_document(["rsa1"])})
    cache = _cache(fetcher, FakeMonotonic(), fast)
    cache.start()
    cache.start()  # idempotent
    loaded = len(fetcher.calls)
    time.sleep(0.2)
    cache.close()
    after_close = len(fetcher.calls)
    time.sleep(0.05)
    grew_after_close = len(fetcher.calls) - after_close
    assert loaded == 1 and grew_after_close == 0
    assert 3 <= len(fetcher.calls) <= 25


def test_start_without_waiting_fetches_in_background() -> None:
    fetcher = FakeFetcher({JWKS: jwks_document(["rsa1"])})
    fetcher.gate = threading.Event()  # the first fetch holds until the state before it is read
    cache = _cache(fetcher, FakeMonotonic())
    cache.start(wait=False)
    before = cache.snapshot(ISS).state
    fetcher.gate.set()
    for _ in range(1000):  # bounded wait for the background fetch
        time.sleep(0.001)
        if cache.snapshot(ISS).usable:
            break
    after = cache.snapshot(ISS).state
    cache.close()
    assert (before, after) == (KeyState.NEVER_LOADED, KeyState.FRESH)


def test_cold_start_outage_leaves_keys_never_loaded() -> None:
    fetcher = FakeFetcher({JWKS: None})
    cache = _cache(fetcher, FakeMonotonic())
    cache.start()
    state = cache.snapshot(ISS).state
    cache.close()
    assert state is KeyState.NEVER_LOADED
    assert fetcher.calls == [JWKS]
