"""X.509 trust bundles streamed from the SPIFFE Workload API, an alternative to files.

`WorkloadApiTrustBundles` swaps in the bundle set of each X.509 context update: the workload's own trust
domain plus every federated one. An update replaces the whole set (a federation the agent stopped delivering
is dropped). When the stream breaks or the agent is unreachable, the last good bundles stay in use and
`status.last_error` says why (readiness, metrics) while `WorkloadApiStream` reconnects.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from meshgate.clock import Clock, SystemClock
from meshgate.identity.bundles import ReloadStatus, StaticTrustBundles
from meshgate.identity.workloadapi import Connect, WorkloadApiStream, X509ContextLike, open_x509_contexts

log = logging.getLogger(__name__)

Bundles = Mapping[str, Sequence[x509.Certificate]]
NOT_YET = "no trust bundle from the SPIFFE Workload API yet"


class WorkloadApiTrustBundles:
    """A `WatchedTrustBundles` fed by the Workload API; `start()` it, then `wait_first()` if you want."""

    def __init__(
        self,
        connect: Connect,
        *,
        clock: Clock | None = None,
        backoff_seconds: tuple[float, float] = (0.2, 5.0),
    ) -> None:
        self._clock = clock or SystemClock()
        self._bundles = StaticTrustBundles()
        self._status = ReloadStatus(0, False, None, NOT_YET)
        self._lock = threading.Lock()
        self._first = threading.Event()
        self._stream = WorkloadApiStream(
            connect,
            open_x509_contexts,
            lambda context: self.update(bundles_of(context)),  # type: ignore[arg-type]
            self._report,
            name="workload-api-x509",
            backoff_seconds=backoff_seconds,
        )

    def x509_authorities(self, trust_domain: str) -> Sequence[x509.Certificate]:
        return self._bundles.x509_authorities(trust_domain)

    @property
    def generation(self) -> int:
        return self._bundles.generation

    @property
    def status(self) -> ReloadStatus:
        return self._status

    def trust_domains(self) -> tuple[str, ...]:
        return self._bundles.trust_domains()

    def start(self) -> None:
        self._stream.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stream.stop(timeout)

    def wait_first(self, timeout: float) -> bool:
        """Wait until the first bundle set arrived; False when `timeout` passed first."""
        return self._first.wait(timeout)

    def update(self, bundles: Bundles) -> ReloadStatus:
        """Swap in one update's bundle set (the stream's callback; public for tests)."""
        with self._lock:
            if not bundles:
                return self._fail("the Workload API sent an update without any trust bundle")
            changed = _digests(bundles) != _digests(self._snapshot())
            if changed:
                self._bundles.replace(bundles)
                log.info(
                    "trust bundles from the Workload API, generation %d: %s",
                    self.generation,
                    summary(bundles),
                )
            self._status = ReloadStatus(self.generation, changed, self._clock.now(), None)
            self._first.set()
            return self._status

    def fail(self, reason: str) -> ReloadStatus:
        """Record that the stream failed; the bundles stay as they are."""
        with self._lock:
            return self._fail(reason)

    def _fail(self, reason: str) -> ReloadStatus:
        kept = "; kept the last good bundles" if self._first.is_set() else ""
        self._status = ReloadStatus(self.generation, False, self._status.last_success, f"{reason}{kept}")
        return self._status

    def _snapshot(self) -> dict[str, Sequence[x509.Certificate]]:
        return {td: self._bundles.x509_authorities(td) for td in self._bundles.trust_domains()}

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


def _digests(bundles: Bundles) -> dict[str, list[bytes]]:
    return {td: sorted(c.fingerprint(hashes.SHA256()) for c in cas) for td, cas in bundles.items()}
