"""A bounded cache of successful X.509 verifications.

Keyed by sha256 over the presented chain (each DER element length-prefixed). An entry lives until the
earliest notAfter in the verified path (by the injected clock) or until the trust bundles' generation
changes, whichever comes first. Failures are never cached: a fixed bundle or a new certificate takes effect
at once.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from meshgate.clock import Clock
from meshgate.identity.x509svid import X509SvidVerifier
from meshgate.model import Identity

DEFAULT_MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class CacheStats:
    hits: int
    misses: int
    size: int


class CachedX509Verifier:
    """Wraps an `X509SvidVerifier`, same `verify` contract; a hit is a hash, a lookup and two compares."""

    def __init__(
        self, verifier: X509SvidVerifier, clock: Clock, *, max_entries: int = DEFAULT_MAX_ENTRIES
    ) -> None:
        if max_entries < 1:
            raise ValueError("identity: max_entries must be >= 1")
        self._verifier = verifier
        self._clock = clock
        self._max_entries = max_entries
        self._entries: OrderedDict[bytes, tuple[int, Identity]] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0

    def verify(self, chain_der: Sequence[bytes]) -> Identity:
        key = chain_key(chain_der)
        generation = (
            self._verifier.bundles.generation
        )  # read before verifying: a reload in between expires it
        hit = self._lookup(key, generation)
        if hit is not None:
            return hit
        identity = self._verifier.verify(chain_der)
        self._store(key, generation, identity)
        return identity

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self._hits, self._misses, len(self._entries))

    def _lookup(self, key: bytes, generation: int) -> Identity | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] == generation and self._alive(entry[1]):
                self._entries.move_to_end(key)
                self._hits += 1
                return entry[1]
            if entry is not None:
                del self._entries[key]
            self._misses += 1
            return None

    def _store(self, key: bytes, generation: int, identity: Identity) -> None:
        with self._lock:
            self._entries[key] = (generation, identity)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def _alive(self, identity: Identity) -> bool:
        return identity.expires_at is None or self._clock.now() < identity.expires_at


def chain_key(chain_der: Sequence[bytes]) -> bytes:
    """sha256 over the chain; length prefixes keep [a, bc] and [ab, c] apart."""
    digest = hashlib.sha256()
    for der in chain_der:
        digest.update(len(der).to_bytes(4, "big"))
        digest.update(der)
    return digest.digest()
