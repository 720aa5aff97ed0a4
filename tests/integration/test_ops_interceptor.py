"""The interceptor's recovery: an exception escaping a handler becomes INTERNAL without internals, is
counted in the RPC metrics, and leaves the server serving. A real grpc server (as meshgate's: synchronous,
a thread pool) on 127.0.0.1:0."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
from meshgate.audit.log import AuditLog
from meshgate.clock import FixedClock
from meshgate.server.interceptors import ObservingInterceptor
from meshgate.server.metrics import ServiceMetrics
from prometheus_client import generate_latest

pytestmark = pytest.mark.integration


def _explode(request: bytes, context: Any) -> bytes:
    if request == b"boom":
        raise RuntimeError("secret internal detail")
    if request == b"refuse":
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, "bad_request: refused")
    return request


@pytest.fixture
def served() -> Iterator[tuple[str, ServiceMetrics]]:
    metrics = ServiceMetrics()
    interceptor = ObservingInterceptor(
        metrics.events, AuditLog(()), FixedClock(datetime(2026, 1, 1, tzinfo=UTC))
    )

    server = grpc.server(ThreadPoolExecutor(max_workers=2), interceptors=[interceptor])
    handler = grpc.method_handlers_generic_handler(
        "test.Echo", {"Call": grpc.unary_unary_rpc_method_handler(_explode)}
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}", metrics
    server.stop(grace=None).wait(5)


def test_an_escaping_exception_becomes_internal_and_is_counted(served: tuple[str, ServiceMetrics]) -> None:
    target, metrics = served
    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary("/test.Echo/Call")
        with pytest.raises(grpc.RpcError) as failed:
            call(b"boom", timeout=5)
        assert failed.value.code() == grpc.StatusCode.INTERNAL
        assert failed.value.details() == "internal: RuntimeError"
        assert call(b"fine", timeout=5) == b"fine"
    page = generate_latest(metrics.registry).decode()
    assert 'meshgate_rpcs_total{code="INTERNAL",method="Echo/Call"} 1.0' in page
    assert 'meshgate_rpcs_total{code="OK",method="Echo/Call"} 1.0' in page
    assert 'meshgate_rpc_duration_seconds_count{method="Echo/Call"} 2.0' in page


def test_an_abort_keeps_its_status_and_is_counted_with_it(served: tuple[str, ServiceMetrics]) -> None:
    target, metrics = served
    with grpc.insecure_channel(target) as channel, pytest.raises(grpc.RpcError) as failed:
        channel.unary_unary("/test.Echo/Call")(b"refuse", timeout=5)
    assert (failed.value.code(), failed.value.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT, "bad_request: refused"
    )  # fmt: skip
    page = generate_latest(metrics.registry).decode()
    assert 'meshgate_rpcs_total{code="INVALID_ARGUMENT",method="Echo/Call"} 1.0' in page
