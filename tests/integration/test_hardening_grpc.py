"""gRPC server hardening against a real meshgate server on 127.0.0.1:0 (`meshgate.server.hardening`).

Slow calls are made by swapping the running service's `Authenticator.authenticate` for a gated function
(it runs in the server's worker threads), so every test controls exactly how many calls are in flight.
Every wait is bounded.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from grpc_health.v1 import health_pb2
from meshgate.model import CredentialKind, Identity
from meshgate.server.hardening import ShutdownPlan, graceful_shutdown
from meshgate.v1 import meshgate_pb2 as pb

if TYPE_CHECKING:
    from tests.integration.conftest import MeshgateServer, StartMeshgate

pytestmark = pytest.mark.integration
ALICE = Identity(principal="spiffe://t.test/ns/a/sa/alice", kind=CredentialKind.OIDC)
WAIT = 10.0  # upper bound of every wait in this module


@dataclass
class Gate:
    """Replaces `authenticate`: counts entries, records the wait each call allows (`budget`, its remaining
    deadline) and holds it until `open` is set (or WAIT passes)."""

    open: threading.Event = field(default_factory=threading.Event)
    entered: int = 0
    finished: int = 0
    budgets: list[float | None] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def authenticate(self, credential: Any, peer: Any, budget: float | None = None) -> Identity:
        with self._lock:
            self.entered += 1
            self.budgets.append(budget)
        self.open.wait(WAIT)
        with self._lock:
            self.finished += 1
        return ALICE

    def wait_entered(self, count: int) -> None:
        deadline = time.monotonic() + WAIT
        while self.entered < count and time.monotonic() < deadline:
            time.sleep(0.005)
        assert self.entered >= count, f"only {self.entered} of {count} calls reached the handler"


def _gated(server: MeshgateServer) -> Gate:
    gate = Gate()
    server.components.authenticator.authenticate = gate.authenticate  # type: ignore[method-assign]
    return gate


def _token_request(token: str = "t.t.t") -> pb.AuthenticateRequest:
    return pb.AuthenticateRequest(credential=pb.Credential(token=token))


@pytest.fixture
def small(start_meshgate: StartMeshgate) -> Iterator[MeshgateServer]:
    yield start_meshgate({"grpc": {"max_message_bytes": 65536, "max_concurrent_rpcs": 4}})


def test_request_over_the_size_limit_is_rejected(small: MeshgateServer) -> None:
    stub = small.stubs.authentication
    with pytest.raises(grpc.RpcError) as caught:
        stub.Authenticate(_token_request("a" * 70_000), timeout=WAIT)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    answer = stub.Authenticate(_token_request("a" * 60_000), timeout=WAIT)  # under the limit: an answer
    assert answer.WhichOneof("result") == "rejection"


def test_calls_over_the_concurrency_limit_fail_fast(small: MeshgateServer) -> None:
    gate = _gated(small)
    stub = small.stubs.authentication
    held = [stub.Authenticate.future(_token_request(), timeout=WAIT) for _ in range(4)]
    gate.wait_entered(4)
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as caught:
        stub.Authenticate(_token_request(), timeout=WAIT)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert time.monotonic() - started < 2.0  # rejected at once, not queued until a slot frees
    gate.open.set()
    assert [f.result(WAIT).identity.principal for f in held] == [ALICE.principal] * 4
    assert gate.entered == 4  # the rejected call never reached the handler


def test_deadline_is_honoured_while_processing(small: MeshgateServer) -> None:
    gate = _gated(small)
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as caught:
        small.stubs.authentication.Authenticate(_token_request(), timeout=0.3)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - started < 2.0
    # A worker thread cannot be cancelled; what may wait in a handler (a JWKS refetch) is told the call's
    # remaining deadline instead and gives up with it (tests/unit/oidc/test_oidc_authenticator.py).
    _wait_until(lambda: gate.entered == 1)
    assert gate.budgets[0] is not None and 0 < gate.budgets[0] <= 0.35  # the 0.3 s deadline, ± clock reads
    assert gate.finished == 0
    gate.open.set()


@pytest.fixture
def one_worker(start_meshgate: StartMeshgate) -> Iterator[MeshgateServer]:
    yield start_meshgate({"grpc": {"workers": 1, "watch_streams": 1}})


def test_call_whose_deadline_passed_before_dispatch_is_not_processed(one_worker: MeshgateServer) -> None:
    gate = _gated(one_worker)
    stub = one_worker.stubs.authentication
    threads = 2  # one worker and one watch slot: unary calls may use the slot while no stream does
    held = [stub.Authenticate.future(_token_request(), timeout=WAIT) for _ in range(threads)]
    gate.wait_entered(threads)  # every worker is busy...
    with pytest.raises(grpc.RpcError) as caught:  # ...so this one's deadline passes in the queue
        stub.Authenticate(_token_request(), timeout=0.2)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    time.sleep(0.1)
    gate.open.set()
    assert [f.result(WAIT).identity.principal for f in held] == [ALICE.principal] * threads
    time.sleep(0.3)
    assert gate.entered == threads


def test_client_pinging_too_often_is_sent_away(small: MeshgateServer) -> None:
    options = [
        ("grpc.keepalive_time_ms", 100),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
    ]
    with grpc.insecure_channel(small.target, options=options) as channel:
        stream = _revision_stream(channel)
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as caught:
            for _ in stream:  # only the initial event arrives; then the server's GOAWAY ends the stream
                pass
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        assert time.monotonic() - started < WAIT


def test_client_with_sane_keepalive_stays_connected(small: MeshgateServer) -> None:
    with grpc.insecure_channel(small.target) as channel:
        stream = _revision_stream(channel, timeout=1.5)
        with pytest.raises(grpc.RpcError) as caught:
            for _ in stream:
                pass
        assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED  # our own deadline, not a GOAWAY


def _revision_stream(channel: grpc.Channel, timeout: float = WAIT) -> Any:
    from meshgate.v1 import meshgate_pb2_grpc as pb_grpc

    return pb_grpc.AuthorizationStub(channel).WatchRevision(pb.WatchRevisionRequest(), timeout=timeout)


def test_graceful_shutdown_fails_no_inflight_call(small: MeshgateServer) -> None:
    gate = _gated(small)
    stub, health = small.stubs.authentication, small.stubs.health
    held = [stub.Authenticate.future(_token_request(), timeout=WAIT) for _ in range(3)]
    gate.wait_entered(3)
    plan = ShutdownPlan(drain_seconds=0.5, grace_seconds=WAIT)
    shutdown = _in_background(
        functools.partial(graceful_shutdown, small.running.server, small.running.health, plan)
    )
    _wait_until(lambda: _health(health) == health_pb2.HealthCheckResponse.NOT_SERVING)
    time.sleep(0.7)  # past the drain: stop() has begun, the held calls are in their grace period
    gate.open.set()
    assert [f.result(WAIT).identity.principal for f in held] == [ALICE.principal] * 3
    shutdown.result(WAIT)
    with pytest.raises(grpc.RpcError) as caught:
        stub.Authenticate(_token_request(), timeout=2)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


def test_not_serving_is_not_undone_by_readiness_sync(small: MeshgateServer) -> None:
    plan = ShutdownPlan(drain_seconds=1.5, grace_seconds=1)
    shutdown = _in_background(
        functools.partial(graceful_shutdown, small.running.server, small.running.health, plan)
    )
    _wait_until(lambda: _health(small.stubs.health) == health_pb2.HealthCheckResponse.NOT_SERVING)
    small.running.health_sync.set(True)  # type: ignore[union-attr]
    assert _health(small.stubs.health) == health_pb2.HealthCheckResponse.NOT_SERVING
    shutdown.result(WAIT)


def _in_background(call: Callable[[], None]) -> Future[None]:
    """`call()` on a thread of its own (as `meshgate serve` shuts down while calls are served)."""
    future: Future[None] = Future()

    def run() -> None:
        try:
            call()
        except BaseException as error:
            future.set_exception(error)
        else:
            future.set_result(None)

    threading.Thread(target=run, name="test-shutdown", daemon=True).start()
    return future


def _health(stub: Any) -> int:
    status: int = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2).status
    return status


def _wait_until(condition: Any) -> None:
    deadline = time.monotonic() + WAIT
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert condition()


def test_watch_streams_beyond_the_slots_are_refused_and_end_at_shutdown(one_worker: MeshgateServer) -> None:
    channel = one_worker.stubs.channel
    first = _revision_stream(channel)
    assert next(first).revision  # the stream holds the one watch slot now
    with pytest.raises(grpc.RpcError) as refused:
        next(_revision_stream(channel))
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "at most 1 WatchRevision streams" in (refused.value.details() or "")
    answer = one_worker.stubs.authentication.Authenticate(_token_request(), timeout=WAIT)  # the worker
    assert answer.WhichOneof("result") == "rejection"
    plan = ShutdownPlan(drain_seconds=0.1, grace_seconds=WAIT)
    started = time.monotonic()
    shutdown = _in_background(
        functools.partial(
            graceful_shutdown,
            one_worker.running.server,
            one_worker.running.health,
            plan,
            end_streams=one_worker.running.feed.close,
        )
    )
    assert list(first) == []  # ended cleanly (OK) as the stop began: the shim reconnects elsewhere
    shutdown.result(WAIT)
    assert time.monotonic() - started < WAIT / 2  # the open stream did not hold the grace period
