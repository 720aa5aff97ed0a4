"""X.509 trust bundles streamed from the SPIFFE Workload API, an alternative to files.

`WorkloadApiTrustBundles` swaps in the bundle set of each X.509 context update: the workload's own trust
domain plus every federated one. An update replaces the whole set (a federation the agent stopped delivering
is dropped). When the stream breaks or the agent is unreachable, the last good bundles stay in use and
`status.last_error` says why (readiness, metrics) while `WorkloadApiStream` reconnects.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from meshgate.clock import Clock
from meshgate.identity.bundles import BundleState, CAs, KeptTrustBundles, ReloadStatus, fingerprints, freeze
from meshgate.identity.workloadapi import (
    Connect,
    StreamedSource,
    WorkloadApiStream,
    X509ContextLike,
    open_x509_contexts,
)

log = logging.getLogger(__name__)

Bundles = Mapping[str, Sequence[x509.Certificate]]
NOT_YET = "no trust bundle from the SPIFFE Workload API yet"


class WorkloadApiTrustBundles(KeptTrustBundles, StreamedSource):
    """A `WatchedTrustBundles` fed by the Workload API; `start()` it, then `wait_first()` if you want."""

    def __init__(
        self,
        connect: Connect,
        *,
        clock: Clock | None = None,
        backoff_seconds: tuple[float, float] = (0.2, 5.0),
    ) -> None:
        state: BundleState[CAs] = BundleState(_sorted_fingerprints, clock=clock, waiting=NOT_YET)
        KeptTrustBundles.__init__(self, state)
        stream = WorkloadApiStream(
            connect,
            open_x509_contexts,
            lambda context: self.update(bundles_of(context)),  # type: ignore[arg-type]
            self._report,
            name="workload-api-x509",
            backoff_seconds=backoff_seconds,
        )
        StreamedSource.__init__(self, stream, state.wait_first)

    def update(self, bundles: Bundles) -> ReloadStatus:
        """Swap in one update's bundle set (the stream's callback; public for tests)."""
        if not bundles:
            return self.fail("the Workload API sent an update without any trust bundle")
        status = self._state.update(freeze(bundles))
        if status.changed:
            log.info(
                "trust bundles from the Workload API, generation %d: %s", status.generation, summary(bundles)
            )
        return status

    def fail(self, reason: str) -> ReloadStatus:
        """Record that the stream failed; the bundles stay as they are."""
        kept = "; kept the last good bundles" if self._state.arrived() else ""
        return self._state.fail(f"{reason}{kept}")

    def _report(self, reason: str) -> None:
        status = self.fail(reason)
        log.warning("trust bundles: %s", status.last_error)


def bundles_of(context: X509ContextLike) -> dict[str, tuple[x509.Certificate, ...]]:
    """Trust domain name -> CAs of an X.509 context's bundle set (own trust domain and federated ones)."""
    out: dict[str, tuple[x509.Certificate, ...]] = {}
    for bundle in getattr(context.x509_bundle_set, "bundles", ()):
        cas = sorted(bundle.x509_authorities, key=lambda c: c.fingerprint(hashes.SHA256()))
        out[bundle.trust_domain.name] = tuple(cas)
    return out


def summary(bundles: Mapping[str, Sequence[object]]) -> str:
    """`example.org (2 CAs), other.test (1 CA)`."""
    return ", ".join(
        f"{td} ({len(cas)} CA{'' if len(cas) == 1 else 's'})" for td, cas in sorted(bundles.items())
    )


def _sorted_fingerprints(cas: Sequence[x509.Certificate]) -> list[bytes]:
    return sorted(fingerprints(cas))
