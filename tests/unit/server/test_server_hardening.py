"""`meshgate.server.hardening` without a network: the option set, the deadline guard, the shutdown order."""

from __future__ import annotations

import threading
from typing import Any

import grpc
import pytest
from meshgate.server.admission import DeadlineGuard, deadline_passed
from meshgate.server.hardening import (
    Keepalive,
    ShutdownPlan,
    graceful_shutdown,
    server_options,
)


def test_options_cap_messages_streams_and_pings() -> None:
    options = dict(server_options(65536, 100))
    assert options == {
        "grpc.max_receive_message_length": 65536,
        "grpc.max_send_message_length": 65536,
        "grpc.max_concurrent_streams": 200,
        "grpc.keepalive_time_ms": 60_000,
        "grpc.keepalive_timeout_ms": 20_000,
        "grpc.keepalive_permit_without_calls": 1,
        "grpc.http2.min_ping_interval_without_data_ms": 10_000,
        "grpc.http2.max_ping_strikes": 2,
        "grpc.server_handshake_timeout_ms": 10_000,
        "grpc.so_reuseport": 0,
    }


def test_keepalive_can_be_tuned() -> None:
    options = dict(server_options(1024, 1, Keepalive(permit_without_calls=False, max_ping_strikes=5)))
    assert options["grpc.keepalive_permit_without_calls"] == 0
    assert options["grpc.http2.max_ping_strikes"] == 5


@pytest.mark.parametrize(("remaining", "passed"), [(None, False), (0.5, False), (0.0, True), (-1.0, True)])
def test_deadline_passed(remaining: float | None, passed: bool) -> None:
    assert deadline_passed(remaining) is passed


class Aborted(Exception):
    pass


class FakeContext:
    def __init__(self, remaining: float | None) -> None:
        self.remaining = remaining
        self.aborted: tuple[grpc.StatusCode, str] | None = None

    def time_remaining(self) -> float | None:
        return self.remaining

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        self.aborted = (code, details)
        raise Aborted  # grpc's own context raises a bare Exception


def _guarded_call(remaining: float | None) -> tuple[FakeContext, list[Any], Any]:
    ran: list[Any] = []

    def behaviour(request: Any, context: Any) -> str:
        ran.append(request)
        return "answer"

    def continuation(details: Any) -> grpc.RpcMethodHandler[Any, Any]:
        return grpc.unary_unary_rpc_method_handler(behaviour)

    handler = DeadlineGuard().intercept_service(continuation, CALL)
    assert handler is not None
    return FakeContext(remaining), ran, handler.unary_unary


class Details(grpc.HandlerCallDetails):
    def __init__(self, method: str) -> None:
        self.method = method
        self.invocation_metadata = ()


CALL = Details("/test.Service/Call")


def test_guard_builds_each_wrapper_once_per_handler() -> None:
    def behaviour(request: Any, context: Any) -> str:
        return "answer"

    handlers = [grpc.unary_unary_rpc_method_handler(behaviour) for _ in range(2)]
    current = handlers[0]

    def continuation(details: Any) -> grpc.RpcMethodHandler[Any, Any]:
        return current

    guard = DeadlineGuard()
    first, again = (guard.intercept_service(continuation, CALL) for _ in range(2))
    current = handlers[1]
    other = guard.intercept_service(continuation, CALL)
    assert first is again and other is not first


def test_guard_runs_calls_with_time_left() -> None:
    context, ran, call = _guarded_call(0.2)
    assert call("req", context) == "answer"
    assert ran == ["req"] and context.aborted is None


def test_guard_refuses_expired_calls_without_running_them() -> None:
    context, ran, call = _guarded_call(-0.01)
    with pytest.raises(Aborted):
        call("req", context)
    assert ran == []
    assert context.aborted is not None and context.aborted[0] == grpc.StatusCode.DEADLINE_EXCEEDED


def test_guard_leaves_streams_alone() -> None:
    def stream(request: Any, context: Any) -> Any:
        yield request

    def continuation(details: Any) -> grpc.RpcMethodHandler[Any, Any]:
        return grpc.unary_stream_rpc_method_handler(stream)

    handler = DeadlineGuard().intercept_service(continuation, CALL)
    assert handler is not None and handler.unary_stream is stream


def test_shutdown_order_is_not_serving_drain_stop_end_streams_then_wait() -> None:
    events: list[str] = []
    stopped = threading.Event()

    class Health:
        def enter_graceful_shutdown(self) -> None:
            events.append("not_serving")

    class Server:
        def stop(self, grace: float | None) -> threading.Event:
            events.append(f"stop({grace})")
            threading.Timer(0.05, lambda: (events.append("stopped"), stopped.set())).start()
            return stopped

    graceful_shutdown(
        Server(),
        Health(),
        ShutdownPlan(drain_seconds=0.05, grace_seconds=3.0),
        before_stop=lambda: events.append("http_stopped"),
        end_streams=lambda: events.append("streams_ended"),
    )
    assert events == ["not_serving", "http_stopped", "stop(3.0)", "streams_ended", "stopped"]
