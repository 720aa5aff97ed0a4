"""Trust bundles streamed from the SPIFFE Workload API (a SPIRE agent's socket), an alternative to files.

A daemon thread holds one `FetchX509SVID` stream open through py-spiffe and swaps in the bundle set of each
update: the workload's own trust domain plus every federated one. An update replaces the whole set (a
federation the agent stopped delivering is dropped). When the stream breaks or the agent is unreachable, the
last good bundles stay in use, `status.last_error` says why (readiness, metrics) and the thread reconnects
with capped exponential backoff. The thread blocks on reads, like go-spiffe's X509Source; verifiers only
read the swapped-in snapshot.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from meshgate.clock import Clock, SystemClock
from meshgate.identity.bundles import ReloadStatus, StaticTrustBundles

log = logging.getLogger(__name__)

Bundles = Mapping[str, Sequence[x509.Certificate]]
NOT_YET = "no trust bundle from the SPIFFE Workload API yet"


class StreamHandle(Protocol):
    def cancel(self) -> None: ...


class X509ContextLike(Protocol):
    """What meshgate reads of py-spiffe's `X509Context`."""

    @property
    def x509_bundle_set(self) -> object: ...


class WorkloadApiClientLike(Protocol):
    """The part of py-spiffe's `WorkloadApiClient` this source uses (a fake in unit tests)."""

    def stream_x509_contexts(
        self,
        on_success: Callable[[X509ContextLike], None],
        on_error: Callable[[Exception], None],
        retry_connect: bool = ...,
    ) -> StreamHandle: ...

    def close(self) -> None: ...


Connect = Callable[[], WorkloadApiClientLike]


def py_spiffe_client(socket: str) -> Connect:
    """A `Connect` over py-spiffe; `socket` is `unix:///path` or empty for `SPIFFE_ENDPOINT_SOCKET`."""

    def connect() -> WorkloadApiClientLike:
        from spiffe import WorkloadApiClient  # imported late: only a Workload API deployment pays for it

        client: WorkloadApiClientLike = WorkloadApiClient(socket_path=socket or None)
        return client

    return connect


class WorkloadApiTrustBundles:
    """A `WatchedTrustBundles` fed by the Workload API; `start()` it, then `wait_first()` if you want."""

    def __init__(
        self,
        connect: Connect,
        *,
        clock: Clock | None = None,
        backoff_seconds: tuple[float, float] = (0.2, 5.0),
    ) -> None:
        self._connect = connect
        self._clock = clock or SystemClock()
        self._backoff = backoff_seconds
        self._bundles = StaticTrustBundles()
        self._status = ReloadStatus(0, False, None, NOT_YET)
        self._lock = threading.Lock()
        self._first = threading.Event()
        self._broken = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

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
        if self._thread is not None:
            raise RuntimeError("identity: WorkloadApiTrustBundles already started")
        self._thread = threading.Thread(target=self._run, name="meshgate-workload-api", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._broken.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

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

    def _run(self) -> None:
        delay = self._backoff[0]
        while not self._stop.is_set():
            success_before = self._status.last_success
            self._follow_once()
            if self._status.last_success != success_before:
                delay = self._backoff[0]  # the stream delivered: start the backoff over
            if self._stop.wait(delay):
                return
            delay = min(delay * 2, self._backoff[1])

    def _follow_once(self) -> None:
        """Open one stream and block until it breaks or `stop()`."""
        self._broken.clear()
        try:
            client = self._connect()
        except Exception as err:  # py-spiffe raises ArgumentError for a missing socket
            self._report(f"cannot reach the SPIFFE Workload API: {_one_line(err)}")
            return
        try:
            handle = client.stream_x509_contexts(self._on_context, self._on_error, retry_connect=False)
            self._broken.wait()
            handle.cancel()
        finally:
            client.close()

    def _on_context(self, context: X509ContextLike) -> None:
        try:
            self.update(bundles_of(context))
        except Exception as err:  # a bad update must not end the stream thread silently
            self._report(f"cannot read a Workload API update: {_one_line(err)}")
            self._broken.set()

    def _on_error(self, err: Exception) -> None:
        if not self._stop.is_set():
            self._report(f"SPIFFE Workload API stream failed: {_one_line(err)}{_hint(err)}")
        self._broken.set()

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


def _digests(bundles: Bundles) -> dict[str, list[bytes]]:
    return {td: sorted(c.fingerprint(hashes.SHA256()) for c in cas) for td, cas in bundles.items()}


def _hint(err: Exception) -> str:
    if "PERMISSION_DENIED" in str(err):
        return (
            " (the agent streams bundles only to a registered workload: create a registration entry whose "
            "selectors match the meshgate process)"
        )
    return ""


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split()) or type(err).__name__
