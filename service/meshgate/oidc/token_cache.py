"""`TokenCache`: a bounded LRU of verified tokens, each kept in as few bytes as a Python object allows.

An entry is not the `Identity` the token verified as but the parts that differ between tokens (the last
segment of the principal, the expiry), with one shared `_Shape` for the rest (the principal up to its last
`/` or `#`, kind, issuer, claims, delegation: the same for the tokens of one namespace, or of one SSO issuer,
and claim set); a hit restores an equal `Identity` from them (`Identity.restore`, ~0.4 µs).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from functools import lru_cache

from meshgate.clock import Clock
from meshgate.lru import LruCache
from meshgate.model import CredentialKind, Delegation, Identity

_SHAPES = 4096  # distinct shapes remembered for sharing; a shape forgotten is only kept once more


class _Shape:
    """What the identities of many tokens share: all of an `Identity` but the last segment of its principal
    and its expiry."""

    __slots__ = ("attributes", "delegation", "issuer", "kind", "prefix")

    def __init__(self, prefix: str, identity: Identity) -> None:
        self.prefix = prefix
        self.kind: CredentialKind = identity.kind
        self.issuer: str = identity.issuer
        self.attributes = identity.attributes
        self.delegation: Delegation | None = identity.delegation


class _Verified(float):
    """One cached verification: the float is the Unix time it may be used until, min(exp, stored + ttl);
    the slots hold what `identity` restores the verified `Identity` from. 64 B, where the identity of its
    own and a float subclass holding it took 80 + 48 B; the principal's last segment (`client-4711`) is a
    string of 64 B where the whole (`spiffe://cluster.local/ns/team-7/sa/client-4711`) took 112."""

    __slots__ = ("expires_at", "last", "shape")
    expires_at: datetime
    last: str
    shape: _Shape

    def __new__(cls, until: float, last: str, expires_at: datetime, shape: _Shape) -> _Verified:
        entry = super().__new__(cls, until)
        entry.last = last
        entry.expires_at = expires_at
        entry.shape = shape
        return entry

    def identity(self) -> Identity:
        shape = self.shape
        return Identity.restore(
            shape.prefix + self.last,
            shape.kind,
            self.expires_at,
            shape.issuer,
            shape.attributes,
            shape.delegation,
        )


class TokenCache:
    """Bounded LRU of verified tokens keyed by 128 bits of sha256(token) (`_key`); an entry lives until
    min(exp, now + ttl). Thread-safe (`meshgate.lru.LruCache`): gRPC worker threads share it. A hit returns
    an `Identity` equal to the one stored, not that object."""

    def __init__(self, max_entries: int, ttl_seconds: float, clock: Clock) -> None:
        self._ttl = ttl_seconds
        self._clock = clock
        self._entries: LruCache[int, _Verified] = LruCache(max_entries)
        self._shapes: LruCache[tuple[object, ...], _Shape] = LruCache(_SHAPES)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def hits(self) -> int:  # for the hit-ratio metric
        return self._entries.hits

    @property
    def misses(self) -> int:
        return self._entries.misses

    def get(self, token: str) -> Identity | None:
        entry = self.entry(token)
        return entry.identity() if entry is not None else None

    def entry(self, token: str) -> _Verified | None:
        """The cached verification of `token` (its `shape.issuer` may be checked before restoring it)."""
        now = self._clock.now().timestamp()
        return self._entries.get(_key(token), lambda until: now < until)

    def put(self, token: str, identity: Identity) -> None:
        if identity.expires_at is None:
            return
        until = min(identity.expires_at.timestamp(), self._clock.now().timestamp() + self._ttl)
        principal = identity.principal
        cut = max(principal.rfind("/"), principal.rfind("#")) + 1
        entry = _Verified(
            until, _shared(principal[cut:]), identity.expires_at, self._shape(principal[:cut], identity)
        )
        self._entries.put(_key(token), entry)

    def clear(self) -> None:
        self._entries.clear()

    def _shape(self, prefix: str, identity: Identity) -> _Shape:
        try:
            key = (
                prefix,
                identity.kind,
                identity.issuer,
                tuple(identity.attributes.items()),
                identity.delegation,
            )
            hash(key)
        except TypeError:  # a claim value that cannot be hashed: a shape of its own
            return _Shape(prefix, identity)
        shape = self._shapes.get(key)
        if shape is None:
            shape = _Shape(prefix, identity)
            self._shapes.put(key, shape)
        return shape


@lru_cache(maxsize=_SHAPES)
def _shared(last: str) -> str:
    """One string per last segment seen lately: the tokens of one service account's replicas share it."""
    return last


def _key(token: str) -> int:
    """The first 128 bits of sha256(token), as an int: 48 B where the whole digest as bytes took 80.

    Enough: to be answered with someone else's cached identity, a token must have the key of that
    someone's token (a second preimage: ~2^128 hashes, ~2^111 against 100k cached tokens at once). A
    collision (~2^64) gains nothing: both tokens would be the attacker's, one of them verified for the
    attacker's own identity, which the other then also gets."""
    return int.from_bytes(hashlib.sha256(token.encode()).digest()[:16], "big")
