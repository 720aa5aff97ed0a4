"""Trust bundles: which CAs may vouch for the workloads of each trust domain.

Verifiers read bundles through `TrustBundleSource` and never load anything themselves. `generation` changes on
every successful reload so caches of verification results know when to forget them. `BundleState` is the one
home of "keep the last good bundles": every watched source (files, the Workload API's X.509 and JWT bundles)
swaps updates in through it and records its failures there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Generic, Protocol, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from meshgate.clock import Clock, SystemClock
from meshgate.principal.trustdomain import parse_trust_domain

T = TypeVar("T")
CAs = tuple[x509.Certificate, ...]


class TrustBundleSource(Protocol):
    """The X.509 authorities of each trust domain. Implementations are cheap to query and thread-safe."""

    def x509_authorities(self, trust_domain: str) -> Sequence[x509.Certificate]:
        """The CAs trusted for `trust_domain`; empty when the trust domain is unknown."""
        ...

    @property
    def generation(self) -> int:
        """A counter that changes whenever the bundles change."""
        ...


@dataclass(frozen=True, slots=True)
class ReloadStatus:
    """What the last reload (files) or update (Workload API) did. `last_error` is None when it was clean."""

    generation: int
    changed: bool
    last_success: datetime | None
    last_error: str | None


class WatchedTrustBundles(TrustBundleSource, Protocol):
    """A `TrustBundleSource` kept up to date in the background (files, SPIFFE Workload API), whose last good
    bundles stay in use while the source fails; `status` feeds readiness and metrics."""

    @property
    def status(self) -> ReloadStatus:
        """The outcome of the latest reload or update."""
        ...


class StaticTrustBundles:
    """An in-memory `TrustBundleSource`; `replace()` swaps everything and bumps the generation."""

    def __init__(self, bundles: Mapping[str, Iterable[x509.Certificate]] | None = None) -> None:
        self._generation = 0
        self._bundles: Mapping[str, tuple[x509.Certificate, ...]] = freeze(bundles or {})

    def x509_authorities(self, trust_domain: str) -> Sequence[x509.Certificate]:
        return self._bundles.get(trust_domain, ())

    @property
    def generation(self) -> int:
        return self._generation

    def trust_domains(self) -> tuple[str, ...]:
        return tuple(sorted(self._bundles))

    def replace(self, bundles: Mapping[str, Iterable[x509.Certificate]]) -> None:
        self._bundles = freeze(bundles)  # one reference swap: readers see old or new, never a mix
        self._generation += 1


def freeze(bundles: Mapping[str, Iterable[x509.Certificate]]) -> dict[str, tuple[x509.Certificate, ...]]:
    """Validate trust domain names and copy the CAs into tuples."""
    return {parse_trust_domain(td): tuple(cas) for td, cas in bundles.items()}


def fingerprints(cas: Iterable[x509.Certificate]) -> list[bytes]:
    """The SHA-256 fingerprints of `cas`, in their order."""
    return [c.fingerprint(hashes.SHA256()) for c in cas]


class BundleState(Generic[T]):
    """Each trust domain's last good bundle (CAs, JWT keys) and how the source's latest update went.

    `update()` swaps a new set in, under a new generation only when some trust domain's `digest` changed
    (what caches of verification results key on); `fail()` records why the source failed and keeps the set.
    Readers never wait and never see an empty set because a source broke. Until `first` (or the first
    update) arrives, `status.last_error` is `waiting`.
    """

    def __init__(
        self,
        digest: Callable[[T], object],
        *,
        clock: Clock | None = None,
        first: Mapping[str, T] | None = None,
        waiting: str = "",
    ) -> None:
        self._digest = digest
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._arrived = threading.Event()
        self._bundles: Mapping[str, T] = MappingProxyType(dict(first or {}))
        self._status = ReloadStatus(0, False, None, waiting)
        if first is not None:
            self._status = ReloadStatus(0, True, self._clock.now(), None)
            self._arrived.set()

    @property
    def bundles(self) -> Mapping[str, T]:
        """The current set (read-only; an update swaps in another mapping)."""
        return self._bundles

    @property
    def generation(self) -> int:
        return self._status.generation

    @property
    def status(self) -> ReloadStatus:
        return self._status

    def arrived(self) -> bool:
        """Whether any bundle set arrived yet (so a failure keeps one)."""
        return self._arrived.is_set()

    def wait_first(self, timeout: float) -> bool:
        """Wait until the first bundle set arrived; False when `timeout` passed first."""
        return self._arrived.wait(timeout)

    def update(
        self, bundles: Mapping[str, T], *, error: str | None = None, kept: Iterable[str] = ()
    ) -> ReloadStatus:
        """Swap in `bundles`; a trust domain in `kept` that `bundles` lacks keeps its last good bundle. With
        `error` the update was partial: it is applied, but `last_success` stays where it was."""
        with self._lock:
            merged = {td: self._bundles[td] for td in kept if td in self._bundles} | dict(bundles)
            changed = self._digests(merged) != self._digests(self._bundles)
            generation = self._status.generation + 1 if changed else self._status.generation
            # Always the newest set, also when no digest moved: a digest may not cover everything (JWT key
            # ids, not the keys). One reference swap: readers see the old set or the new one, never a mix.
            self._bundles = MappingProxyType(merged)
            now = self._clock.now()
            last_success = self._status.last_success if error else now
            self._status = ReloadStatus(generation, changed, last_success, error)
            self._arrived.set()
            return self._status

    def fail(self, reason: str) -> ReloadStatus:
        """Record that the source failed; the bundles stay as they are."""
        with self._lock:
            s = self._status
            self._status = ReloadStatus(s.generation, False, s.last_success, reason)
            return self._status

    def _digests(self, bundles: Mapping[str, T]) -> dict[str, object]:
        return {td: self._digest(b) for td, b in bundles.items()}


class KeptTrustBundles:
    """The `WatchedTrustBundles` reads of a source (files, Workload API) with its CAs in a `BundleState`."""

    def __init__(self, state: BundleState[CAs]) -> None:
        self._state = state

    def x509_authorities(self, trust_domain: str) -> Sequence[x509.Certificate]:
        return self._state.bundles.get(trust_domain, ())

    @property
    def generation(self) -> int:
        return self._state.generation

    @property
    def status(self) -> ReloadStatus:
        return self._state.status

    def trust_domains(self) -> tuple[str, ...]:
        return tuple(sorted(self._state.bundles))
