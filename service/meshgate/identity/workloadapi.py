"""The SPIFFE Workload API (a SPIRE agent's socket): one stream kept open by a daemon thread.

`WorkloadApiStream` opens a stream through py-spiffe (`stream_x509_contexts` or `stream_jwt_bundles`, without
py-spiffe's own retries so every break is seen), hands each update to a callback, and when the stream breaks
or the agent is unreachable reports why and reconnects with capped exponential backoff. The thread blocks on
reads, like go-spiffe's X509Source; what it feeds (`workloadbundles`, `jwtbundles`) keeps the last good
update, so readers never wait on the agent.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)


class StreamHandle(Protocol):
    def cancel(self) -> None: ...


class X509ContextLike(Protocol):
    """What meshgate reads of py-spiffe's `X509Context`."""

    @property
    def x509_bundle_set(self) -> object: ...


class WorkloadApiClientLike(Protocol):
    """The part of py-spiffe's `WorkloadApiClient` meshgate uses (a fake in unit tests)."""

    def stream_x509_contexts(
        self,
        on_success: Callable[[X509ContextLike], None],
        on_error: Callable[[Exception], None],
        retry_connect: bool = ...,
    ) -> StreamHandle: ...

    def stream_jwt_bundles(
        self,
        on_success: Callable[[object], None],
        on_error: Callable[[Exception], None],
        retry_connect: bool = ...,
    ) -> StreamHandle: ...

    def close(self) -> None: ...


Connect = Callable[[], WorkloadApiClientLike]
Open = Callable[[WorkloadApiClientLike, Callable[[object], None], Callable[[Exception], None]], StreamHandle]


def py_spiffe_client(socket: str) -> Connect:
    """A `Connect` over py-spiffe; `socket` is `unix:///path` or empty for `SPIFFE_ENDPOINT_SOCKET`."""

    def connect() -> WorkloadApiClientLike:
        from spiffe import WorkloadApiClient  # imported late: only a Workload API deployment pays for it

        client: WorkloadApiClientLike = WorkloadApiClient(socket_path=socket or None)
        return client

    return connect


def open_x509_contexts(
    client: WorkloadApiClientLike, on_update: Callable[[object], None], on_error: Callable[[Exception], None]
) -> StreamHandle:
    return client.stream_x509_contexts(on_update, on_error, retry_connect=False)


def open_jwt_bundles(
    client: WorkloadApiClientLike, on_update: Callable[[object], None], on_error: Callable[[Exception], None]
) -> StreamHandle:
    return client.stream_jwt_bundles(on_update, on_error, retry_connect=False)


class WorkloadApiStream:
    """Keeps one stream open in a daemon thread. `on_update(update)` may raise: the stream is then
    reopened; `on_failure(reason)` hears every break, one line each."""

    def __init__(
        self,
        connect: Connect,
        open_stream: Open,
        on_update: Callable[[object], None],
        on_failure: Callable[[str], None],
        *,
        name: str,
        backoff_seconds: tuple[float, float] = (0.2, 5.0),
    ) -> None:
        self._connect = connect
        self._open = open_stream
        self._on_update = on_update
        self._on_failure = on_failure
        self._name = name
        self._backoff = backoff_seconds
        self._delivered = False
        self._broken = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"identity: {self._name} already started")
        self._thread = threading.Thread(target=self._run, name=f"meshgate-{self._name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._broken.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        delay = self._backoff[0]
        while not self._stop.is_set():
            self._delivered = False
            self._follow_once()
            if self._delivered:
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
            self._on_failure(f"cannot reach the SPIFFE Workload API: {one_line(err)}")
            return
        try:
            handle = self._open(client, self._update, self._error)
            self._broken.wait()
            handle.cancel()
        finally:
            client.close()

    def _update(self, update: object) -> None:
        try:
            self._on_update(update)
        except Exception as err:  # a bad update must not end the stream thread silently
            self._on_failure(f"cannot read a Workload API update: {one_line(err)}")
            self._broken.set()
            return
        self._delivered = True

    def _error(self, err: Exception) -> None:
        if not self._stop.is_set():
            self._on_failure(f"SPIFFE Workload API stream failed: {one_line(err)}{_hint(err)}")
        self._broken.set()


class StreamedSource:
    """What a source fed by one `WorkloadApiStream` shows its owner: `start()`, `stop()`, `wait_first()`."""

    def __init__(self, stream: WorkloadApiStream, first: Callable[[float], bool]) -> None:
        self._stream = stream
        self._first = first

    def start(self) -> None:
        self._stream.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stream.stop(timeout)

    def wait_first(self, timeout: float) -> bool:
        """Wait until the first update arrived; False when `timeout` passed first."""
        return self._first(timeout)


def _hint(err: Exception) -> str:
    if "PERMISSION_DENIED" in str(err):
        return (
            " (the agent streams bundles only to a registered workload: create a registration entry whose "
            "selectors match the meshgate process)"
        )
    return ""


def one_line(err: Exception) -> str:
    return " ".join(str(err).split()) or type(err).__name__
