"""Load shedding at the gRPC port: a bounded queue per method, and a refusal that costs the caller no wait.

grpcio's synchronous server hands every call to one worker pool whose queue has no bound; under a storm,
calls wait there until their deadline has passed and the answer is thrown away by the caller. Instead:

* each unary method has its own queue of calls accepted but not yet started by a worker, at most
  `grpc.queue_per_method` long (`MethodQueue`; a slow method cannot fill the others' queues);
* a call arriving at a full queue is answered RESOURCE_EXHAUSTED at once, by a thread that does nothing
  else (the refusal lane), so it never waits behind the work it would add to; the shim asks again after a
  backoff (docs/shim.md);
* a call whose deadline passed while it queued is dropped before any work: grpcio does not run the handler
  of a call its caller has given up on, and `DeadlineGuard`, the chain's last layer, answers one whose
  deadline passed but whose caller has not been heard from yet.

Both are counted in `meshgate_rpcs_shed_total{method, reason}` (`queue_full`, `expired`). Streams
(WatchRevision has its own slots) pass through untouched.

How: the chain (`chain.py`) asks the shedder's entrance as each call arrives, on grpcio's polling thread,
before the call is handed to a pool; it reads the method's queue and returns either the admitted handler,
whose behaviour names its `MethodQueue` as the pool to use, or the refusal, whose behaviour names the
refusal lane. grpcio picks a
behaviour's own pool from its `experimental_thread_pool` attribute (grpc `_server.py`,
`_select_thread_pool_for_behavior`). A `MethodQueue` counts a call when grpcio submits it and uncounts it
when a worker starts it, so a call cancelled while it waited is uncounted too; if the admitted behaviour
then did not run, the caller had gone, and the call is counted as `expired`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, NoReturn

import grpc

from meshgate.server.chain import Behaviour, Handler, Layer, like, recovered, short_name
from meshgate.server.metrics import EventMetrics
from meshgate.server.status import Refusal

log = logging.getLogger("meshgate.server")
QUEUE_FULL, EXPIRED = "queue_full", "expired"
WARN_EVERY_SECONDS = 10.0
_worker = threading.local()  # `ran`: the admitted behaviour of the call this worker thread runs was called


class MethodQueue(ThreadPoolExecutor):
    """One method's calls on the shared worker pool, at most `limit` waiting. A `ThreadPoolExecutor` only
    because grpcio accepts nothing else as a behaviour's pool; it starts no threads of its own."""

    def __init__(self, workers: ThreadPoolExecutor, limit: int, on_unanswered: Callable[[], None]) -> None:
        super().__init__(max_workers=1)
        self._workers = workers
        self.limit = limit
        self._on_unanswered = on_unanswered
        self._waiting = 0
        self._lock = threading.Lock()

    @property
    def waiting(self) -> int:
        return self._waiting

    def full(self) -> bool:
        return self._waiting >= self.limit

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._lock:
            self._waiting += 1
        try:
            return self._workers.submit(self._started, fn, *args, **kwargs)
        except BaseException:
            self._leave()
            raise

    def _started(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        self._leave()
        _worker.ran = False
        try:
            return fn(*args, **kwargs)
        finally:
            if not _worker.ran:  # grpcio skipped the handler: the caller gave up while the call waited
                self._on_unanswered()

    def _leave(self) -> None:
        with self._lock:
            self._waiting -= 1


class LoadShedder:
    """The chain's admission: admits a unary call to its method's queue or refuses it at once."""

    def __init__(self, workers: ThreadPoolExecutor, limit: int, metrics: EventMetrics) -> None:
        self._workers = workers
        self._limit = limit
        self._metrics = metrics
        self._refusals = ThreadPoolExecutor(max_workers=1, thread_name_prefix="meshgate-shed")
        self._queues: dict[str, MethodQueue] = {}  # by the method's short name (the metric label)
        self._refused = 0
        self._warned_at = 0.0
        self._lock = threading.Lock()

    @property
    def queues(self) -> Mapping[str, MethodQueue]:
        """Each unary method's queue by its short name (the metric label), for the depth gauge."""
        return dict(self._queues)

    def entrance(self, method: str, handler: Handler) -> Callable[[], Handler]:
        """Per call: `handler` (the chain's, for `method`) while its queue has room, else the refusal."""
        label = short_name(method)
        queue = self._queue(label)
        assert handler.unary_unary is not None  # the chain passes only unary handlers here
        behaviour: Any = _forward(handler.unary_unary)
        behaviour.experimental_thread_pool = queue
        refuse: Any = recovered(method, self._refuser(label, queue))
        refuse.experimental_thread_pool = self._refusals
        admitted, refusal = like(handler, behaviour), like(handler, refuse)
        return lambda: refusal if queue.full() else admitted

    def submit(self, method: str, call: Callable[[], object]) -> None:
        """For a call that did not come through grpcio (the frames transport): run `call` on `method`'s
        queue, the same queue and workers as over gRPC; a full queue raises the refusal (a `Refusal`) at
        once, counted as over gRPC."""
        label = short_name(method)
        queue = self._queue(label)
        if queue.full():
            self._refusal(label, queue)()
        queue.submit(_ran, call)

    def _queue(self, label: str) -> MethodQueue:
        queue = self._queues.get(label)
        if queue is None:  # gRPC's polling thread and the frames readers may both ask first
            with self._lock:
                queue = self._queues.get(label)
                if queue is None:
                    queue = MethodQueue(self._workers, self._limit, lambda: self.shed(label, EXPIRED))
                    self._queues[label] = queue
        return queue

    def _refuser(self, label: str, queue: MethodQueue) -> Behaviour:
        refuse = self._refusal(label, queue)
        return lambda request, context: refuse()

    def _refusal(self, label: str, queue: MethodQueue) -> Callable[[], NoReturn]:
        """Counts a call refused at a full `queue` and raises the answer."""
        detail = (
            f"meshgate is overloaded: {queue.limit} calls of {label} already wait (grpc.queue_per_method); "
            "ask again after a backoff"
        )

        def refuse() -> NoReturn:
            self.shed(label, QUEUE_FULL)
            self._metrics.observe_rpc(label, grpc.StatusCode.RESOURCE_EXHAUSTED.name, 0.0)
            raise Refusal(grpc.StatusCode.RESOURCE_EXHAUSTED, detail)

        return refuse

    def shed(self, label: str, reason: str) -> None:
        """Count a call refused or dropped before work; warn at most every WARN_EVERY_SECONDS."""
        self._metrics.observe_shed(label, reason)
        with self._lock:
            self._refused += 1
            now = time.monotonic()
            if now - self._warned_at < WARN_EVERY_SECONDS:
                return
            refused, self._refused, self._warned_at = self._refused, 0, now
        log.warning(
            "shedding load: %d calls refused or dropped unanswered since the last warning (latest: %s, %s); "
            "see meshgate_rpcs_shed_total",
            refused, label, reason,
        )  # fmt: skip

    def close(self) -> None:
        self._refusals.shutdown(wait=False, cancel_futures=True)


class DeadlineGuard(Layer):
    """Answers DEADLINE_EXCEEDED, without running the handler, when a unary call arrives already expired
    (say, after waiting in the worker pool's queue); `on_drop` is told the method of each one dropped."""

    def __init__(self, on_drop: Callable[[str], None] | None = None) -> None:
        self._on_drop = on_drop

    def wrap(self, method: str, behaviour: Behaviour) -> Behaviour:
        on_drop = self._on_drop

        def call(request: Any, context: grpc.ServicerContext) -> Any:
            if deadline_passed(context.time_remaining()):
                if on_drop is not None:
                    on_drop(method)
                raise Refusal(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline passed before processing")
            return behaviour(request, context)

        return call


def deadline_passed(time_remaining: float | None) -> bool:
    """gRPC reports None when the caller set no deadline."""
    return time_remaining is not None and time_remaining <= 0


def _ran(call: Callable[[], object]) -> None:
    """A call the frames transport submitted: it is answered (by the chain's deadline check if it expired)."""
    _worker.ran = True
    call()


def _forward(behaviour: Behaviour) -> Behaviour:
    def call(request: Any, context: grpc.ServicerContext) -> Any:
        _worker.ran = True
        return behaviour(request, context)

    return call
