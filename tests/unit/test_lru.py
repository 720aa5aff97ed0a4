"""`meshgate.lru.LruCache`, the one bounded cache: least recently used first out, a value that may no longer
be used is dropped and counted as a miss, size 0 stores nothing, stats count every lookup."""

from __future__ import annotations

from meshgate.lru import CacheStats, LruCache


def test_the_least_recently_used_entry_goes_first() -> None:
    cache: LruCache[str, int] = LruCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "b" is now the least recently used
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c"), len(cache)) == (1, None, 3, 2)
    assert cache.stats() == CacheStats(hits=3, misses=1, size=2)


def test_a_value_no_longer_valid_is_dropped_and_counted_as_a_miss() -> None:
    cache: LruCache[str, int] = LruCache(4)
    cache.put("k", 7)
    assert cache.get("k", lambda value: value > 10) is None
    assert cache.get("k") is None and len(cache) == 0
    assert (cache.hits, cache.misses) == (0, 2)


def test_a_cache_of_size_zero_stores_nothing() -> None:
    cache: LruCache[str, int] = LruCache(0)
    cache.put("k", 1)
    assert cache.get("k") is None and len(cache) == 0


def test_putting_a_key_again_replaces_it_and_makes_it_the_most_recent() -> None:
    cache: LruCache[str, int] = LruCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("a", 10)
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b")) == (10, None)
    cache.clear()
    assert cache.stats().size == 0
