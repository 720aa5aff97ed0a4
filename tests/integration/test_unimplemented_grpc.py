"""An RPC the servicer does not implement answers UNIMPLEMENTED through meshgate's interceptor, on a real
server: the broker plugin falls back to unary calls on exactly that code (an older service without
AuthenticateBatch), so it must not become INTERNAL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import grpc
import pytest
from meshgate.audit.log import AuditLog
from meshgate.clock import FixedClock
from meshgate.server.interceptors import ObservingInterceptor
from meshgate.server.metrics import ServiceMetrics
from meshgate.v1 import meshgate_pb2 as pb
from meshgate.v1 import meshgate_pb2_grpc as pb_grpc

pytestmark = pytest.mark.integration


def test_an_unimplemented_method_stays_unimplemented_through_the_interceptor() -> None:
    clock = FixedClock(datetime(2026, 1, 1, tzinfo=UTC))
    interceptor = ObservingInterceptor(ServiceMetrics().events, AuditLog(()), clock)
    server = grpc.server(ThreadPoolExecutor(max_workers=2), interceptors=[interceptor])
    nothing_implemented = pb_grpc.AuthenticationServicer()
    pb_grpc.add_AuthenticationServicer_to_server(nothing_implemented, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel, pytest.raises(grpc.RpcError) as failed:
            pb_grpc.AuthenticationStub(channel).AuthenticateBatch(pb.AuthenticateBatchRequest(), timeout=5)
        assert failed.value.code() == grpc.StatusCode.UNIMPLEMENTED
    finally:
        server.stop(None)
