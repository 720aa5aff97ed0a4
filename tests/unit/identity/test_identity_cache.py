"""CachedX509Verifier: hits, expiry at notAfter, bundle generation changes, LRU bound, no negative caching."""

from __future__ import annotations

from datetime import timedelta

import pytest
from meshgate.clock import FixedClock
from meshgate.errors import AuthenticationError
from meshgate.identity import CachedX509Verifier, StaticTrustBundles, X509SvidVerifier
from meshgate.identity.cache import chain_key
from meshgate.lru import CacheStats
from meshgate.model import Identity

from devtools.devca import DevCA

from .helpers import API, NOW, der


class CountingVerifier(X509SvidVerifier):
    calls = 0

    def verify(self, chain_der: object) -> Identity:  # type: ignore[override]
        self.calls += 1
        return super().verify(chain_der)  # type: ignore[arg-type]


def setup(
    ca: DevCA, clock: FixedClock, **kwargs: int
) -> tuple[CachedX509Verifier, CountingVerifier, StaticTrustBundles]:
    bundles = StaticTrustBundles({"example.org": [ca.cert]})
    inner = CountingVerifier(bundles, clock)
    return CachedX509Verifier(inner, clock, **kwargs), inner, bundles


def test_second_verify_is_a_hit(ca: DevCA, clock: FixedClock) -> None:
    cached, inner, _ = setup(ca, clock)
    chain = der([ca.issue_svid(API).cert])
    assert cached.verify(chain) == cached.verify(chain)
    assert inner.calls == 1
    assert cached.stats() == CacheStats(hits=1, misses=1, size=1)


def test_entry_expires_at_not_after(ca: DevCA, clock: FixedClock) -> None:
    cached, inner, _ = setup(ca, clock)
    chain = der([ca.issue_svid(API, not_after=NOW + timedelta(hours=1)).cert])
    cached.verify(chain)
    clock.advance(3599)
    cached.verify(chain)
    assert inner.calls == 1
    clock.advance(1)  # at notAfter: the entry is gone; the verifier decides again (skew still allows it)
    cached.verify(chain)
    assert inner.calls == 2
    clock.advance(3600)
    with pytest.raises(AuthenticationError) as caught:
        cached.verify(chain)
    assert caught.value.code == "expired"


def test_bundle_generation_change_drops_entries(ca: DevCA, clock: FixedClock) -> None:
    cached, inner, bundles = setup(ca, clock)
    chain = der([ca.issue_svid(API).cert])
    cached.verify(chain)
    bundles.replace({"example.org": [DevCA("new root", now=NOW).cert]})  # the old CA is no longer trusted
    with pytest.raises(AuthenticationError) as caught:
        cached.verify(chain)
    assert caught.value.code == "untrusted_chain"
    assert inner.calls == 2


def test_failures_are_not_cached(ca: DevCA, clock: FixedClock) -> None:
    cached, inner, bundles = setup(ca, clock)
    other = DevCA("other root", now=NOW)
    chain = der([other.issue_svid(API).cert])
    with pytest.raises(AuthenticationError):
        cached.verify(chain)
    assert cached.stats().size == 0
    bundles.replace({"example.org": [ca.cert, other.cert]})
    assert cached.verify(chain).principal == API
    assert inner.calls == 2


def test_size_is_bounded_least_recently_used_first(ca: DevCA, clock: FixedClock) -> None:
    cached, inner, _ = setup(ca, clock, max_entries=2)
    a, b, c = (der([ca.issue_svid(f"{API}{i}").cert]) for i in range(3))
    cached.verify(a)
    cached.verify(b)
    cached.verify(a)  # a is now most recent; c evicts b
    cached.verify(c)
    assert cached.stats().size == 2
    cached.verify(a)
    assert inner.calls == 3
    cached.verify(b)
    assert inner.calls == 4


def test_key_separates_element_boundaries() -> None:
    assert chain_key([b"ab", b"c"]) != chain_key([b"a", b"bc"])
    assert chain_key([b"ab"]) == chain_key([b"ab"])


def test_max_entries_must_be_positive(ca: DevCA, clock: FixedClock) -> None:
    with pytest.raises(ValueError, match="max_entries"):
        setup(ca, clock, max_entries=0)
