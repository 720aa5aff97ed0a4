"""`TokenCache` on its own: an entry lives until min(exp, stored + ttl) to the microsecond, is keyed by
128 bits of the sha256 of the full token, the least recently used goes first at the bound, `clear` empties
it, and threads share it. (Key rotation and the authenticator around it: test_oidc_authenticator.py.)"""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime, timedelta

from meshgate.clock import FixedClock
from meshgate.model import CredentialKind, Identity
from meshgate.oidc import TokenCache
from meshgate.oidc.token_cache import _key

NOW = datetime(2030, 1, 1, tzinfo=UTC)
TINY = 1e-6


def _identity(name: str, lives: float) -> Identity:
    return Identity(
        f"oidc:https://sso.example.test#{name}", CredentialKind.OIDC, NOW + timedelta(seconds=lives)
    )


def _served(cache: TokenCache, clock: FixedClock, token: str, at: float) -> bool:
    """Whether `token` is answered `at` seconds after NOW (the clock is moved there first)."""
    clock.advance(NOW.timestamp() + at - clock.now().timestamp())
    return cache.get(token) is not None


def test_an_entry_lives_until_the_tokens_exp_when_that_comes_first() -> None:
    clock = FixedClock(NOW)
    cache = TokenCache(8, 60, clock)
    cache.put("short", _identity("alice", 30))
    assert [_served(cache, clock, "short", 30 - TINY), _served(cache, clock, "short", 30)] == [True, False]
    assert len(cache) == 0  # the expired entry went with the lookup that found it expired


def test_an_entry_lives_until_stored_plus_ttl_when_that_comes_first() -> None:
    clock = FixedClock(NOW)
    cache = TokenCache(8, 60, clock)
    clock.advance(5)
    cache.put("long", _identity("alice", 3600))  # stored at NOW + 5: lives until NOW + 65
    assert [_served(cache, clock, "long", 65 - TINY), _served(cache, clock, "long", 65)] == [True, False]


def test_a_hit_returns_an_identity_equal_to_the_one_stored_and_counts() -> None:
    clock = FixedClock(NOW)
    cache = TokenCache(8, 60, clock)
    stored = _identity("alice", 300)
    cache.put("t", stored)
    assert [cache.get("t") == stored, cache.get("other"), cache.hits, cache.misses] == [True, None, 1, 1]


def test_an_identity_without_expiry_is_not_cached() -> None:
    cache = TokenCache(8, 60, FixedClock(NOW))
    cache.put("t", Identity("oidc:x#y", CredentialKind.OIDC))
    assert (cache.get("t"), len(cache)) == (None, 0)


def test_the_key_is_128_bits_of_the_sha256_of_the_full_token() -> None:
    token = "eyJ.payload.signature"
    assert _key(token) == int.from_bytes(hashlib.sha256(token.encode()).digest()[:16], "big")
    assert _key(token) != _key(token[:-1] + "x")


def test_the_full_token_decides() -> None:
    """A token that differs from a cached one anywhere, even past any prefix, is not answered from it."""
    clock = FixedClock(NOW)
    cache = TokenCache(8, 60, clock)
    token = "eyJ." + "p" * 20000 + ".signature"
    cache.put(token, _identity("alice", 300))
    assert [cache.get(token) is not None, cache.get(token[:-1] + "x"), cache.get(token[:-1])] == [
        True, None, None
    ]  # fmt: skip


def test_the_least_recently_used_token_goes_first_and_clear_empties_it() -> None:
    clock = FixedClock(NOW)
    cache = TokenCache(2, 60, clock)
    for name in ("a", "b"):
        cache.put(name, _identity(name, 300))
    assert cache.get("a") is not None  # "b" is now the least recently used
    cache.put("c", _identity("c", 300))
    assert [cache.get("a") is not None, cache.get("b"), cache.get("c") is not None, len(cache)] == [
        True, None, True, 2
    ]  # fmt: skip
    cache.clear()
    assert (len(cache), cache.get("a")) == (0, None)


def test_a_cache_of_size_zero_stores_nothing() -> None:
    cache = TokenCache(0, 60, FixedClock(NOW))
    cache.put("t", _identity("alice", 300))
    assert (cache.get("t"), len(cache)) == (None, 0)


def test_threads_share_it_within_its_bound_and_every_lookup_is_counted() -> None:
    clock = FixedClock(NOW)
    cache = TokenCache(64, 60, clock)
    identities = {f"tok-{i}": _identity(f"u{i}", 300) for i in range(256)}
    wrong: list[str] = []

    def work(offset: int) -> None:
        for round_ in range(20):
            for i in range(offset, 256, 4):
                token = f"tok-{(i + round_) % 256}"
                cache.put(token, identities[token])
                hit = cache.get(token)
                if hit is not None and hit != identities[token]:
                    wrong.append(token)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert wrong == []
    assert len(cache) == 64
    assert cache.hits + cache.misses == 4 * 20 * 64


def test_tokens_of_one_namespace_share_a_shape_and_replicas_their_last_segment() -> None:
    """What keeps an entry small: the principal's prefix, kind, issuer and claims are one object for the
    tokens of one namespace and claim set; the last segment one string for the tokens of one principal."""
    cache = TokenCache(8, 60, FixedClock(NOW))

    def sa(namespace: str, name: str) -> Identity:
        principal = f"spiffe://cluster.local/ns/{namespace}/sa/{name}"
        return Identity(principal, CredentialKind.K8S_SA_TOKEN, NOW + timedelta(seconds=300), "https://k8s")

    for token, identity in [
        ("a1", sa("a", "x")),
        ("a2", sa("a", "y")),
        ("a3", sa("a", "y")),
        ("b", sa("b", "y")),
    ]:
        cache.put(token, identity)
    a1, a2, a3, b = (cache.entry(token) for token in ("a1", "a2", "a3", "b"))
    assert a1 is not None and a2 is not None and a3 is not None and b is not None
    assert [a1.shape is a2.shape, a2.shape is b.shape, a2.last is a3.last, a1.last] == [
        True,
        False,
        True,
        "x",
    ]
    assert cache.get("b") == sa("b", "y")
