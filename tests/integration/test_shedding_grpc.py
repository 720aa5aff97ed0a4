"""Load shedding at the gRPC port (`meshgate.server.admission`, issue #22), a real server on 127.0.0.1:0.

One worker thread, a queue of two calls per method: the handler of `Authenticate` is swapped for a gate that
holds each call, so every test controls how many calls run and wait. Every wait is bounded.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from grpc_health.v1 import health_pb2
from meshgate.v1 import meshgate_pb2 as pb

from tests.integration.test_hardening_grpc import ALICE, WAIT, Gate, _gated, _token_request, _wait_until

if TYPE_CHECKING:
    from tests.integration.conftest import MeshgateServer, StartMeshgate

pytestmark = pytest.mark.integration
AUTHENTICATE = "Authentication/Authenticate"
QUEUE = 2


@pytest.fixture
def tight(start_meshgate: StartMeshgate) -> Iterator[MeshgateServer]:
    yield start_meshgate({"grpc": {"workers": 1, "watch_streams": 1, "queue_per_method": QUEUE}})


def _metric(server: MeshgateServer, name: str, labels: dict[str, str]) -> float:
    value = server.components.metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def _shed(server: MeshgateServer, reason: str, method: str = AUTHENTICATE) -> float:
    return _metric(server, "meshgate_rpcs_shed_total", {"method": method, "reason": reason})


def _depth(server: MeshgateServer, method: str = AUTHENTICATE) -> float:
    return _metric(server, "meshgate_rpc_queue_depth", {"method": method})


def _fill(server: MeshgateServer, gate: Gate, timeout: float = WAIT) -> list[Any]:
    """Both threads busy in the gate (one worker, plus the watch slot no stream uses), QUEUE calls waiting."""
    stub = server.stubs.authentication
    running = [stub.Authenticate.future(_token_request(), timeout=WAIT) for _ in range(2)]
    gate.wait_entered(2)
    waiting = [stub.Authenticate.future(_token_request(), timeout=timeout) for _ in range(QUEUE)]
    _wait_until(lambda: _depth(server) == QUEUE)
    return running + waiting


def test_a_call_beyond_the_queue_is_refused_at_once_and_counted(tight: MeshgateServer) -> None:
    gate = _gated(tight)
    held = _fill(tight, gate)
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as caught:
        tight.stubs.authentication.Authenticate(_token_request(), timeout=WAIT)
    refused_in = time.monotonic() - started
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    detail = caught.value.details() or ""
    assert "overloaded" in detail and "grpc.queue_per_method" in detail
    assert refused_in < 1.0, f"refused after {refused_in:.2f}s: it waited behind the work"
    assert _shed(tight, "queue_full") == 1
    assert _metric(tight, "meshgate_rpcs_total", {"method": AUTHENTICATE, "code": "RESOURCE_EXHAUSTED"}) == 1
    gate.open.set()
    assert [f.result(WAIT).identity.principal for f in held] == [ALICE.principal] * 4
    assert gate.entered == 4, "the refused call never reached the handler"
    _wait_until(lambda: _depth(tight) == 0)


def test_each_method_has_its_own_queue(tight: MeshgateServer) -> None:
    gate = _gated(tight)
    held = _fill(tight, gate)
    # Authenticate's queue is full; an authorization still gets into its own and is answered in turn.
    decision = tight.stubs.authorization.Authorize.future(
        pb.AuthorizeRequest(principal="spiffe://t.test/ns/a/sa/alice", action="topic.produce"), timeout=WAIT
    )
    health = tight.stubs.health.Check.future(health_pb2.HealthCheckRequest(service=""), timeout=WAIT)
    _wait_until(lambda: _depth(tight, "Authorization/Authorize") == 1)
    gate.open.set()
    assert decision.result(WAIT).decision.reason_code  # an answer (a deny: no policy grants alice)
    assert health.result(WAIT).status == health_pb2.HealthCheckResponse.SERVING
    assert [f.result(WAIT).identity.principal for f in held] == [ALICE.principal] * 4
    assert _shed(tight, "queue_full", "Authorization/Authorize") == 0


def test_a_call_whose_deadline_passed_in_the_queue_is_dropped_before_work(tight: MeshgateServer) -> None:
    gate = _gated(tight)
    stub = tight.stubs.authentication
    running = [stub.Authenticate.future(_token_request(), timeout=WAIT) for _ in range(2)]
    gate.wait_entered(2)
    with pytest.raises(grpc.RpcError) as caught:  # waits in the queue past its deadline
        stub.Authenticate(_token_request(), timeout=0.3)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    gate.open.set()
    assert [f.result(WAIT).identity.principal for f in running] == [ALICE.principal] * 2
    _wait_until(lambda: _depth(tight) == 0)
    time.sleep(0.2)
    assert gate.entered == 2, "the expired call never reached the handler"
    assert _shed(tight, "expired") == 1


def test_calls_that_gave_up_while_queued_free_their_place(tight: MeshgateServer) -> None:
    gate = _gated(tight)
    running = _fill(tight, gate, timeout=0.3)[:2]
    time.sleep(0.5)  # both queued calls are past their deadline: their callers have gone
    gate.open.set()
    assert [f.result(WAIT).identity.principal for f in running] == [ALICE.principal] * 2
    _wait_until(lambda: _depth(tight) == 0)
    stub = tight.stubs.authentication
    answers = [stub.Authenticate(_token_request(), timeout=WAIT) for _ in range(QUEUE + 1)]
    assert all(a.identity.principal == ALICE.principal for a in answers), "no place was lost for good"
    assert _shed(tight, "queue_full") == 0
    assert _shed(tight, "expired") == QUEUE, "both were dropped unanswered, and counted"
