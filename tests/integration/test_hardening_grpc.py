"""gRPC server hardening against a real meshgate server on 127.0.0.1:0 (`meshgate.server.hardening`).

Slow calls are made by swapping the running service's `Authenticator.authenticate` for a gated coroutine,
so every test controls exactly how many calls are in flight. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
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
    """Replaces `authenticate`: counts entries and holds each call until `open` is set (or WAIT passes)."""

    open: threading.Event = field(default_factory=threading.Event)
    entered: int = 0
    finished: int = 0
    block_loop_seconds: float = 0.0  # a synchronous sleep: freezes the server's event loop

    async def authenticate(self, credential: Any, peer: Any) -> Identity:
        self.entered += 1
        if self.block_loop_seconds:
            time.sleep(self.block_loop_seconds)
        deadline = time.monotonic() + WAIT
        while not self.open.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
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
    _wait_until(lambda: gate.entered == 1)
    time.sleep(0.2)
    assert gate.finished == 0  # the handler was cancelled, not run to completion
    gate.open.set()


def test_call_whose_deadline_passed_before_dispatch_is_not_processed(small: MeshgateServer) -> None:
    gate = _gated(small)
    gate.open.set()
    gate.block_loop_seconds = 0.8  # the first call freezes the server loop...
    stub = small.stubs.authentication
    first = stub.Authenticate.future(_token_request(), timeout=WAIT)
    gate.wait_entered(1)
    with pytest.raises(grpc.RpcError) as caught:  # ...so this one's deadline passes before dispatch
        stub.Authenticate(_token_request(), timeout=0.2)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert first.result(WAIT).identity.principal == ALICE.principal
    time.sleep(0.3)
    assert gate.entered == 1


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
    shutdown = asyncio.run_coroutine_threadsafe(
        graceful_shutdown(small.running.server, small.running.health, plan), small.loop.loop
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
    shutdown = asyncio.run_coroutine_threadsafe(
        graceful_shutdown(small.running.server, small.running.health, plan), small.loop.loop
    )
    _wait_until(lambda: _health(small.stubs.health) == health_pb2.HealthCheckResponse.NOT_SERVING)
    small.loop.run(small.running.health_sync.set(True))  # type: ignore[union-attr]
    assert _health(small.stubs.health) == health_pb2.HealthCheckResponse.NOT_SERVING
    shutdown.result(WAIT)


def _health(stub: Any) -> int:
    status: int = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2).status
    return status


def _wait_until(condition: Any) -> None:
    deadline = time.monotonic() + WAIT
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert condition()
