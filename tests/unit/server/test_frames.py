"""The frames transport's pieces without a network (`meshgate.server.frames`): the codec, the context, the
chain's errors answered as `FrameError`s through `status.py`, the shedder's queue for frames calls, and
where the socket goes (`GrpcConfig.frames_socket`)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NoReturn

import grpc
import pytest
from meshgate.errors import BadRequestError, OverloadedError, PolicyError
from meshgate.server.admission import DeadlineGuard, LoadShedder
from meshgate.server.chain import Chain
from meshgate.server.config import GrpcConfig
from meshgate.server.frames import (
    HEADER,
    BadFrame,
    FrameAborted,
    FrameContext,
    answer,
    encode,
    error_reply,
    parse_call,
    read_frame,
)
from meshgate.server.interceptors import AUTHORIZE_BATCH
from meshgate.server.metrics import ServiceMetrics
from meshgate.server.status import Refusal, status_for
from meshgate.v1 import meshgate_pb2 as pb

CALL = pb.FrameCall(
    id=7, budget_ms=250, authorize_batch=pb.AuthorizeBatchRequest(requests=[pb.AuthorizeRequest()])
)


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    left, right = socket.socketpair()
    left.settimeout(5)
    right.settimeout(5)
    yield left, right
    left.close()
    right.close()


def test_a_frame_is_its_big_endian_length_then_the_message() -> None:
    data = encode(CALL)
    assert data[:4] == len(CALL.SerializeToString()).to_bytes(4, "big")
    assert pb.FrameCall.FromString(data[4:]) == CALL


def test_frames_read_back_one_by_one_then_none_at_the_end(pair: tuple[socket.socket, socket.socket]) -> None:
    left, right = pair
    second = pb.FrameCall(id=8, authenticate_batch=pb.AuthenticateBatchRequest())
    left.sendall(encode(CALL) + encode(second))
    left.shutdown(socket.SHUT_WR)
    assert [read_frame(right, 1024) for _ in range(3)] == [
        CALL.SerializeToString(),
        second.SerializeToString(),
        None,
    ]


def test_a_length_over_the_limit_is_refused_before_reading_the_body(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    left, right = pair
    left.sendall(HEADER.pack(1025))
    with pytest.raises(
        BadFrame, match=r"a frame of 1025 bytes, over the limit of 1024 \(grpc.max_message_bytes\)"
    ):
        read_frame(right, 1024)


def test_a_connection_ending_inside_a_frame_is_bad_input(pair: tuple[socket.socket, socket.socket]) -> None:
    left, right = pair
    left.sendall(HEADER.pack(10) + b"abc")
    left.shutdown(socket.SHUT_WR)
    with pytest.raises(BadFrame, match=r"the connection ended inside a frame \(3 of 10 bytes\)"):
        read_frame(right, 1024)


def test_parse_names_the_call_field() -> None:
    call, field = parse_call(CALL.SerializeToString())
    assert (call, field) == (CALL, "authorize_batch")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\xff\xff\xff", r"a frame of 3 bytes that is not a FrameCall"),
        (pb.FrameCall(id=5, budget_ms=9).SerializeToString(), r"FrameCall 5 has no call set"),
        (b"", r"FrameCall 0 has no call set"),
    ],
)
def test_bad_frames_say_what_was_wrong(body: bytes, message: str) -> None:
    with pytest.raises(BadFrame, match=message):
        parse_call(body)


def test_the_context_counts_the_budget_from_when_the_frame_was_read() -> None:
    assert FrameContext(None, "unix:x").time_remaining() is None
    remaining = FrameContext(time.monotonic() + 0.25, "unix:x").time_remaining()
    assert remaining is not None and 0.2 < remaining <= 0.25
    expired = FrameContext(time.monotonic() - 1, "unix:x")
    assert expired.time_remaining() == 0.0 and not expired.is_active()


def test_the_context_abort_raises_with_the_status_and_remembers_it() -> None:
    context = FrameContext(None, "unix:x")
    assert context.code() is None and context.is_active() and context.peer_identities() is None
    with pytest.raises(FrameAborted) as caught:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, "bad")
    assert (caught.value.code, caught.value.detail) == (grpc.StatusCode.INVALID_ARGUMENT, "bad")
    assert context.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_the_context_is_inactive_once_its_connection_closed() -> None:
    assert not FrameContext(None, "unix:x", lambda: False).is_active()


def _raising(error: Exception) -> Any:
    def behaviour(request: Any, context: Any) -> NoReturn:
        raise error

    return behaviour


@pytest.mark.parametrize(
    "error",
    [
        BadRequestError("principal is required"),
        PolicyError("no policy"),
        OverloadedError("too many"),
        Refusal(grpc.StatusCode.RESOURCE_EXHAUSTED, "full"),
        RuntimeError("secret internals"),
    ],
)
def test_a_failed_call_is_answered_with_the_status_grpc_would_end_it_with(error: Exception) -> None:
    chained = Chain().unary(AUTHORIZE_BATCH, _raising(error))
    reply = answer(7, "authorize_batch", chained, pb.AuthorizeBatchRequest(), FrameContext(None, "unix:x"))
    code, detail = status_for(error)
    assert reply == error_reply(7, code, detail)
    assert reply.error.code == code.value[0] and "secret" not in reply.error.message


def test_an_answered_call_carries_the_response_under_its_field() -> None:
    response = pb.AuthorizeBatchResponse(decisions=[pb.Decision(allowed=False)])
    chained = Chain().unary(AUTHORIZE_BATCH, lambda request, context: response)
    reply = answer(3, "authorize_batch", chained, pb.AuthorizeBatchRequest(), FrameContext(None, "unix:x"))
    assert reply == pb.FrameReply(id=3, authorize_batch=response)


def test_an_expired_budget_is_answered_deadline_exceeded_without_work() -> None:
    ran, dropped = [], []
    chained = Chain(DeadlineGuard(dropped.append)).unary(AUTHORIZE_BATCH, lambda r, c: ran.append(r))
    context = FrameContext(time.monotonic() - 0.001, "unix:x")
    reply = answer(4, "authorize_batch", chained, pb.AuthorizeBatchRequest(), context)
    assert reply.error == pb.FrameError(code=4, message="deadline passed before processing")
    assert (ran, dropped) == ([], [AUTHORIZE_BATCH])


def test_error_codes_are_the_grpc_numbers() -> None:
    assert error_reply(1, grpc.StatusCode.RESOURCE_EXHAUSTED, "x").error.code == 8
    assert error_reply(1, grpc.StatusCode.DEADLINE_EXCEEDED, "x").error.code == 4
    assert error_reply(1, grpc.StatusCode.INTERNAL, "x").error.code == 13


def _shed(metrics: ServiceMetrics, reason: str) -> float:
    labels = {"method": "Authorization/AuthorizeBatch", "reason": reason}
    return metrics.registry.get_sample_value("meshgate_rpcs_shed_total", labels) or 0.0


def test_frames_calls_share_the_method_queue_and_a_full_one_refuses_at_once() -> None:
    metrics = ServiceMetrics()
    workers = ThreadPoolExecutor(max_workers=1)
    shedder = LoadShedder(workers, 1, metrics.events)
    hold, done = threading.Event(), threading.Event()
    try:
        shedder.submit(AUTHORIZE_BATCH, lambda: hold.wait(5))  # runs, holding the one worker
        shedder.submit(AUTHORIZE_BATCH, done.set)  # waits: the queue is full now
        assert shedder.queues["Authorization/AuthorizeBatch"].waiting == 1
        with pytest.raises(Refusal) as refused:
            shedder.submit(AUTHORIZE_BATCH, done.set)
        assert refused.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert (
            "1 calls of Authorization/AuthorizeBatch already wait (grpc.queue_per_method)"
            in refused.value.detail
        )
        assert _shed(metrics, "queue_full") == 1.0
        hold.set()
        assert done.wait(5)
        assert _shed(metrics, "expired") == 0.0  # the queued call ran: not counted as unanswered
    finally:
        hold.set()
        workers.shutdown(wait=True)
        shedder.close()


@pytest.mark.parametrize(
    ("settings", "socket_path"),
    [
        ({"listen": "unix:/run/mg/meshgate.sock"}, Path("/run/mg/meshgate.sock.frames")),
        ({"listen": "unix:///run/mg/meshgate.sock"}, Path("/run/mg/meshgate.sock.frames")),
        ({"listen": "unix:/run/mg/meshgate.sock", "frames": False}, None),
        ({"listen": "unix:/run/mg/meshgate.sock", "tls_cert": Path("c.pem")}, None),
        ({"listen": "unix-abstract:meshgate"}, None),
        ({"listen": "127.0.0.1:50051"}, None),
    ],
)
def test_the_frames_socket_sits_beside_a_plain_unix_listen_only(
    settings: dict[str, Any], socket_path: Path | None
) -> None:
    assert GrpcConfig(**settings).frames_socket == socket_path


def test_the_grpc_socket_file_is_read_from_unix_listens_only() -> None:
    assert GrpcConfig(listen="unix:relative.sock").unix_socket == Path("relative.sock")
    assert GrpcConfig(listen="unix:///abs/mg.sock").unix_socket == Path("/abs/mg.sock")
    assert GrpcConfig(listen="unix-abstract:mg").unix_socket is None
