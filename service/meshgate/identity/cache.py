"""A bounded cache of successful X.509 verifications.

Keyed by sha256 over the presented chain (each DER element length-prefixed). An entry lives until the
earliest notAfter in the verified path (by the injected clock) or until the trust bundles' generation
changes, whichever comes first. Failures are never cached: a fixed bundle or a new certificate takes effect
at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from meshgate.clock import Clock
from meshgate.identity.x509svid import X509SvidVerifier
from meshgate.lru import CacheStats, LruCache
from meshgate.model import Identity

DEFAULT_MAX_ENTRIES = 10_000


class CachedX509Verifier:
    """Wraps an `X509SvidVerifier`, same `verify` contract; a hit is a hash, a lookup and two compares."""

    def __init__(
        self, verifier: X509SvidVerifier, clock: Clock, *, max_entries: int = DEFAULT_MAX_ENTRIES
    ) -> None:
        if max_entries < 1:
            raise ValueError("identity: max_entries must be >= 1")
        self._verifier = verifier
        self._clock = clock
        self._entries: LruCache[bytes, tuple[int, Identity]] = LruCache(max_entries)

    def verify(self, chain_der: Sequence[bytes]) -> Identity:
        key = chain_key(chain_der)
        generation = self._verifier.bundles.generation  # read before verifying: a reload in between expires
        hit = self._entries.get(key, lambda entry: entry[0] == generation and self._alive(entry[1]))
        if hit is not None:
            return hit[1]
        identity = self._verifier.verify(chain_der)
        self._entries.put(key, (generation, identity))
        return identity

    def stats(self) -> CacheStats:
        return self._entries.stats()

    def _alive(self, identity: Identity) -> bool:
        return identity.expires_at is None or self._clock.now() < identity.expires_at


def chain_key(chain_der: Sequence[bytes]) -> bytes:
    """sha256 over the chain; length prefixes keep [a, bc] and [ab, c] apart."""
    digest = hashlib.sha256()
    for der in chain_der:
        digest.update(len(der).to_bytes(4, "big"))
        digest.update(der)
    return digest.digest()
