"""Trust bundles: which CAs may vouch for the workloads of each trust domain.

Verifiers read bundles through `TrustBundleSource` and never load anything themselves. `generation` changes on
every successful reload so caches of verification results know when to forget them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from cryptography import x509

from meshgate.principal.trustdomain import parse_trust_domain


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
