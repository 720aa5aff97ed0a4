"""The frames transport (docs/frames.md) against a real in-process service on `unix:/path`: the same answers,
audit records and metrics as gRPC; many calls in flight on one connection, answered as they finish; the
deadline and the queue as over gRPC; bad input closes only its own connection; where the socket exists, its
file mode, a stale socket replaced, a live one refused, and a graceful stop. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from meshgate.config.service import load_config
from meshgate.errors import ConfigError
from meshgate.server import frames as frames_module
from meshgate.server.app import build_components, close_components, start_grpc, stop_grpc
from meshgate.server.frames import HEADER
from meshgate.v1 import meshgate_pb2 as pb

from devtools import pki as dev_pki
from devtools.frames_client import FramesClient
from tests.integration.conftest import write_config
from tests.integration.ops_support import READER, WRITER, authenticate_request, authorize_request, chain_of
from tests.integration.test_hardening_grpc import WAIT, Gate, _gated, _token_request, _wait_until
from tests.integration.test_serve_startup import _read_until, _serve

if TYPE_CHECKING:
    from tests.integration.conftest import MeshgateServer, StartMeshgate

pytestmark = pytest.mark.integration
AUTHENTICATE_BATCH = "Authentication/AuthenticateBatch"
COUNTERS = ("meshgate_rpcs_total", "meshgate_decisions_total", "meshgate_authentications_total")


@pytest.fixture
def sockets() -> Iterator[Path]:
    """A short directory for the sockets (a Unix socket path has at most 107 bytes)."""
    directory = Path(tempfile.mkdtemp(prefix="mg-frames-", dir="/tmp"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def _on_unix(sockets: Path, grpc_section: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"listen": f"unix:{sockets}/mg.sock", **(grpc_section or {})}


@pytest.fixture
def framed(
    start_meshgate: StartMeshgate, pki: dev_pki.DevPki, sockets: Path, tmp_path: Path
) -> tuple[MeshgateServer, Path]:
    audit_file = tmp_path / "audit.jsonl"
    server = start_meshgate(
        {
            "grpc": _on_unix(sockets, {"workers": 4}),
            "identity": {"trust_bundles": [f"{dev_pki.TRUST_DOMAIN}={pki.ca_file}"]},
            "audit": {"file": {"path": str(audit_file)}},
        }
    )
    return server, audit_file


def _frames(server: MeshgateServer) -> FramesClient:
    assert server.running.frames is not None
    return FramesClient(server.running.frames.path, timeout=WAIT)


def _counters(server: MeshgateServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in server.components.metrics.registry.collect()
        for sample in family.samples
        if sample.name in COUNTERS
    }


def _delta(server: MeshgateServer, act: Callable[[], object]) -> dict[Any, float]:
    before = _counters(server)
    act()
    after = _counters(server)
    return {
        key: value - before.get(key, 0.0) for key, value in after.items() if value != before.get(key, 0.0)
    }


def _records(audit_file: Path, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + WAIT
    records: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        text = audit_file.read_text() if audit_file.exists() else ""
        records = [json.loads(line) for line in text.splitlines()]
        if len(records) >= count:
            break
        time.sleep(0.05)
    for record in records:
        record.pop("time")
    return records


def _authorize_items(pki: dev_pki.DevPki) -> list[pb.AuthorizeRequest]:
    writer = authenticate_request(chain_of(pki.cert("writer")))
    return [
        authorize_request(WRITER, "topic.produce", request_id="z-0"),
        authorize_request(READER, "topic.produce", request_id="z-1"),  # a deny
        authorize_request(READER, "topic.consume", subscription="s", request_id="z-2"),
        authorize_request(
            WRITER, "topic.produce", credential=writer.credential, peer=writer.peer, request_id="z-3"
        ),
    ]


def test_authorize_batch_over_frames_answers_and_records_as_grpc(
    framed: tuple[MeshgateServer, Path], pki: dev_pki.DevPki
) -> None:
    server, audit_file = framed
    batch = pb.AuthorizeBatchRequest(requests=_authorize_items(pki))
    answers: dict[str, Any] = {}
    over_grpc = _delta(
        server, lambda: answers.update(grpc=server.stubs.authorization.AuthorizeBatch(batch, timeout=WAIT))
    )
    with _frames(server) as frames:
        call = pb.FrameCall(id=1, budget_ms=5000, authorize_batch=batch)
        over_frames = _delta(server, lambda: answers.update(frames=frames.call(call)))
    assert answers["frames"] == pb.FrameReply(id=1, authorize_batch=answers["grpc"])
    assert [d.allowed for d in answers["grpc"].decisions] == [True, False, True, True]
    assert over_frames == over_grpc
    assert (
        over_grpc[("meshgate_rpcs_total", (("code", "OK"), ("method", "Authorization/AuthorizeBatch")))] == 1
    )
    records = _records(audit_file, 2 * len(batch.requests))
    assert records[: len(records) // 2] == records[len(records) // 2 :]


def test_authenticate_batch_over_frames_answers_and_records_as_grpc(
    framed: tuple[MeshgateServer, Path], pki: dev_pki.DevPki
) -> None:
    server, audit_file = framed
    items = [
        authenticate_request(chain_of(pki.cert("writer")), "a-0"),
        pb.AuthenticateRequest(request_id="a-1"),  # no credential
        authenticate_request([], "a-2"),  # malformed: rejected alone
    ]
    batch = pb.AuthenticateBatchRequest(requests=items)
    answers: dict[str, Any] = {}
    over_grpc = _delta(
        server,
        lambda: answers.update(grpc=server.stubs.authentication.AuthenticateBatch(batch, timeout=WAIT)),
    )
    with _frames(server) as frames:
        call = pb.FrameCall(id=2, authenticate_batch=batch)
        over_frames = _delta(server, lambda: answers.update(frames=frames.call(call)))
    assert answers["frames"] == pb.FrameReply(id=2, authenticate_batch=answers["grpc"])
    assert answers["grpc"].responses[0].identity.principal == WRITER
    assert over_frames == over_grpc
    records = _records(audit_file, 6)
    assert records[:3] == records[3:]


def test_a_failing_call_gets_the_status_grpc_ends_it_with(framed: tuple[MeshgateServer, Path]) -> None:
    server, _ = framed
    batch = pb.AuthorizeBatchRequest(requests=[pb.AuthorizeRequest()])  # no principal: INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as caught:
        server.stubs.authorization.AuthorizeBatch(batch, timeout=WAIT)
    with _frames(server) as frames:
        reply = frames.call(pb.FrameCall(id=3, authorize_batch=batch))
    code = caught.value.code()
    assert reply.error == pb.FrameError(code=code.value[0], message=caught.value.details())
    assert code == grpc.StatusCode.INVALID_ARGUMENT


def test_calls_in_flight_on_one_connection_are_answered_as_they_finish(
    framed: tuple[MeshgateServer, Path],
) -> None:
    server, _ = framed
    gate = _gated(server)
    slow = pb.FrameCall(
        id=100, budget_ms=10_000, authenticate_batch=pb.AuthenticateBatchRequest(requests=[_token_request()])
    )
    quick = [
        pb.FrameCall(
            id=n,
            authorize_batch=pb.AuthorizeBatchRequest(requests=[authorize_request(WRITER, "topic.produce")]),
        )
        for n in range(1, 21)
    ]
    with _frames(server) as frames:
        frames.send(slow)  # held in the gate: a JWKS refetch, say
        gate.wait_entered(1)
        for call in quick:
            frames.send(call)
        replies = [frames.receive() for _ in quick]  # all answered while the slow one is held
        assert sorted(r.id for r in replies) == list(range(1, 21))
        assert all(r.authorize_batch.decisions[0].allowed for r in replies)
        gate.open.set()
        last = frames.receive()
    assert last.id == 100 and last.authenticate_batch.responses[0].identity.principal
    assert gate.budgets[0] is not None and 5 < gate.budgets[0] <= 10


@pytest.fixture
def tight(start_meshgate: StartMeshgate, sockets: Path) -> MeshgateServer:
    """One worker thread (plus the watch slot no stream uses) and a queue of two calls per method."""
    return start_meshgate(
        {"grpc": _on_unix(sockets, {"workers": 1, "watch_streams": 1, "queue_per_method": 2})}
    )


def _shed(server: MeshgateServer, reason: str) -> float:
    labels = {"method": AUTHENTICATE_BATCH, "reason": reason}
    return server.components.metrics.registry.get_sample_value("meshgate_rpcs_shed_total", labels) or 0.0


def _token_call(call_id: int, budget_ms: int = 0) -> pb.FrameCall:
    batch = pb.AuthenticateBatchRequest(requests=[_token_request()])
    return pb.FrameCall(id=call_id, budget_ms=budget_ms, authenticate_batch=batch)


def test_a_call_beyond_the_queue_is_refused_at_once_and_counted(tight: MeshgateServer) -> None:
    gate = _gated(tight)
    with _frames(tight) as frames:
        for n in range(2):
            frames.send(_token_call(n))
        gate.wait_entered(2)  # both threads held
        for n in range(2, 4):
            frames.send(_token_call(n))  # the queue is full now
        _wait_until(
            lambda: (
                tight.running.shedder is not None
                and tight.running.shedder.queues[AUTHENTICATE_BATCH].waiting == 2
            )
        )
        started = time.monotonic()
        refused = frames.call(_token_call(9))
        assert time.monotonic() - started < 1.0
        assert refused.id == 9 and refused.error.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
        assert "grpc.queue_per_method" in refused.error.message
        assert _shed(tight, "queue_full") == 1
        gate.open.set()
        assert sorted(frames.receive().id for _ in range(4)) == [0, 1, 2, 3]


def test_a_call_whose_budget_passed_while_queued_is_answered_deadline_exceeded(tight: MeshgateServer) -> None:
    gate = _gated(tight)
    with _frames(tight) as frames:
        for n in range(2):
            frames.send(_token_call(n))
        gate.wait_entered(2)
        frames.send(_token_call(5, budget_ms=50))
        time.sleep(0.2)  # past its budget, still queued behind the held calls
        gate.open.set()
        replies = {r.id: r for r in (frames.receive() for _ in range(3))}
    assert replies[5].error == pb.FrameError(code=4, message="deadline passed before processing")
    assert gate.entered == 2  # no work for the expired call
    assert _shed(tight, "expired") == 1


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (HEADER.pack((1 << 20) + 1), "over the limit of 1048576 (grpc.max_message_bytes)"),
        (HEADER.pack(3) + b"\xff\xff\xff", "that is not a FrameCall"),
        (HEADER.pack(2) + pb.FrameCall(id=4).SerializeToString(), "FrameCall 4 has no call set"),
    ],
    ids=["oversize", "garbage", "no-call"],
)
def test_bad_input_closes_that_connection_only(
    framed: tuple[MeshgateServer, Path], data: bytes, said: str, caplog: pytest.LogCaptureFixture
) -> None:
    server, _ = framed
    call = pb.FrameCall(
        id=1, authorize_batch=pb.AuthorizeBatchRequest(requests=[authorize_request(WRITER, "topic.produce")])
    )
    with _frames(server) as bad, _frames(server) as good, caplog.at_level(logging.WARNING, "meshgate.server"):
        assert good.call(call).authorize_batch.decisions[0].allowed
        bad.send_raw(data)
        assert bad.closed_by_peer()
        assert good.call(call).authorize_batch.decisions[0].allowed
    warning = f"frames: closing the connection of pid {os.getpid()}: "
    assert any(r.getMessage().startswith(warning) and said in r.getMessage() for r in caplog.records)


def _boot(raw: dict[str, Any], directory: Path) -> Any:
    config = load_config(write_config(directory, raw), env={})
    components = build_components(config)
    try:
        return components, start_grpc(components)
    except BaseException:
        close_components(components)
        raise


def _stop(booted: Any) -> None:
    components, running = booted
    stop_grpc(running)
    close_components(components)


def test_no_frames_socket_with_tls_with_frames_off_or_on_tcp(
    sockets: Path, pki: dev_pki.DevPki, tmp_path: Path
) -> None:
    tls = {
        "tls_cert": str(pki.cert("broker-server")),
        "tls_key": str(pki.key("broker-server")),
        "tls_client_ca": str(pki.ca_file),
    }
    for n, grpc_section in enumerate([_on_unix(sockets, tls), _on_unix(sockets, {"frames": False}), {}]):
        booted = _boot({"grpc": grpc_section}, tmp_path / f"s{n}")
        try:
            assert booted[1].frames is None
            assert not (sockets / "mg.sock.frames").exists()
        finally:
            _stop(booted)


def test_the_socket_has_the_grpc_sockets_mode_and_goes_at_stop(
    sockets: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    old = os.umask(0o077)
    try:
        with caplog.at_level(logging.INFO, "meshgate.server"):
            booted = _boot({"grpc": _on_unix(sockets)}, tmp_path)
    finally:
        os.umask(old)
    frames = sockets / "mg.sock.frames"
    try:
        grpc_mode = stat.S_IMODE((sockets / "mg.sock").stat().st_mode)
        assert stat.S_IMODE(frames.stat().st_mode) == grpc_mode == 0o700
        assert f"meshgate serving frames on {frames}" in caplog.text
    finally:
        _stop(booted)
    assert not frames.exists()


def test_a_stale_socket_is_replaced(sockets: Path, tmp_path: Path) -> None:
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(sockets / "mg.sock.frames"))
    stale.close()  # a crashed run's file: no one answers
    booted = _boot({"grpc": _on_unix(sockets)}, tmp_path)
    try:
        with FramesClient(sockets / "mg.sock.frames") as frames:
            assert frames.call(_token_call(1)).authenticate_batch.responses[0].rejection.code
    finally:
        _stop(booted)


def test_a_live_socket_is_refused_before_grpc_takes_its_path(sockets: Path, tmp_path: Path) -> None:
    others = []
    for name in ("mg.sock", "mg.sock.frames"):  # another serve answering on both
        other = socket.socket(socket.AF_UNIX)
        other.bind(str(sockets / name))
        other.listen(1)
        others.append(other)
    grpc_inode = (sockets / "mg.sock").stat().st_ino
    try:
        with pytest.raises(
            ConfigError,
            match=f"cannot listen on the frames socket {sockets}/mg.sock.frames: another process answers",
        ):
            _boot({"grpc": _on_unix(sockets)}, tmp_path)
        assert (sockets / "mg.sock").stat().st_ino == grpc_inode  # the other serve's gRPC socket is untouched
    finally:
        for other in others:
            other.close()


def test_a_graceful_stop_answers_the_calls_in_flight_then_closes(sockets: Path, tmp_path: Path) -> None:
    booted = _boot({"grpc": _on_unix(sockets)}, tmp_path)
    components, running = booted
    gate = Gate()
    components.authenticator.authenticate = gate.authenticate
    try:
        frames = FramesClient(sockets / "mg.sock.frames", timeout=WAIT)
        frames.send(_token_call(1))
        gate.wait_entered(1)
        stopped = running.stop(5.0)
        _wait_until(lambda: not (sockets / "mg.sock.frames").exists())
        with pytest.raises(OSError):
            FramesClient(sockets / "mg.sock.frames")  # no longer accepting
        assert not stopped.is_set()
        gate.open.set()
        assert frames.receive().id == 1  # the call in flight is answered
        assert stopped.wait(WAIT)
        assert frames.closed_by_peer()
        frames.close()
    finally:
        gate.open.set()
        _stop(booted)


def test_serve_listens_on_frames_refuses_a_second_serve_and_cleans_up_at_sigterm(
    sockets: Path, tmp_path: Path
) -> None:
    config = write_config(tmp_path, {"grpc": _on_unix(sockets)})
    first = _serve(config)
    try:
        started = _read_until(first, "meshgate: ready on port")
        assert f"meshgate serving frames on {sockets}/mg.sock.frames" in started
        grpc_inode = (sockets / "mg.sock").stat().st_ino
        second = subprocess.run(
            [sys.executable, "-m", "meshgate", "serve", "--config", str(config)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert second.returncode == 2
        assert (
            f"cannot listen on the frames socket {sockets}/mg.sock.frames: another process" in second.stderr
        )
        assert (sockets / "mg.sock").stat().st_ino == grpc_inode  # the first's gRPC socket is still its own
        with FramesClient(sockets / "mg.sock.frames") as frames:
            assert frames.call(_token_call(1)).id == 1
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=30) == 0
    assert not (sockets / "mg.sock.frames").exists() and not (sockets / "mg.sock").exists()


def test_a_second_serve_without_frames_does_not_take_over_the_grpc_socket(
    sockets: Path, tmp_path: Path
) -> None:
    """grpcio replaces a `unix:` socket file another process still answers on; with the frames socket off
    (or TLS on the socket) nothing else stopped a second serve from silently taking the first one's."""
    config = write_config(tmp_path, {"grpc": _on_unix(sockets, {"frames": False})})
    first = _serve(config)
    try:
        _read_until(first, "meshgate: ready on port")
        grpc_inode = (sockets / "mg.sock").stat().st_ino
        second = subprocess.run(
            [sys.executable, "-m", "meshgate", "serve", "--config", str(config)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert second.returncode == 2, second.stderr
        assert (
            f"grpc.listen: cannot listen on unix:{sockets}/mg.sock: another process answers there"
            in second.stderr
        )
        assert (sockets / "mg.sock").stat().st_ino == grpc_inode
        with grpc.insecure_channel(f"unix:{sockets}/mg.sock") as channel:
            grpc.channel_ready_future(channel).result(timeout=WAIT)  # still the first serve's
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=30) == 0


def _big_batch(items: int) -> pb.AuthorizeBatchRequest:
    return pb.AuthorizeBatchRequest(requests=[authorize_request(READER, "topic.produce")] * items)


def test_a_reply_over_the_limit_is_refused_as_grpc_refuses_it(
    start_meshgate: StartMeshgate, sockets: Path
) -> None:
    server = start_meshgate({"grpc": _on_unix(sockets, {"max_message_bytes": 4096})})
    batch = _big_batch(30)  # under 4 KiB asked, over 4 KiB answered
    assert batch.ByteSize() < 4096
    with pytest.raises(grpc.RpcError) as caught:
        server.stubs.authorization.AuthorizeBatch(batch, timeout=WAIT)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    with _frames(server) as frames:
        reply = frames.call(pb.FrameCall(id=1, authorize_batch=batch))
        assert reply.error.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
        assert "over grpc.max_message_bytes (4096)" in reply.error.message
        assert frames.call(pb.FrameCall(id=2, authorize_batch=_big_batch(1))).authorize_batch.decisions


def _drained_to_the_end(client: FramesClient) -> bool:
    """Read what the service sent until it closed the connection (True), or WAIT passed (False)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        try:
            if client.sock.recv(1 << 16) == b"":
                return True
        except ConnectionResetError:
            return True
    return False


def test_a_peer_that_does_not_read_loses_its_connection_not_the_workers(
    tight: MeshgateServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(frames_module, "SEND_TIMEOUT_SECONDS", 0.3)
    batch = _big_batch(2000)  # each reply far larger than the socket's buffers
    with _frames(tight) as hog, caplog.at_level(logging.INFO, "meshgate.server"):
        with contextlib.suppress(OSError):  # the service may close it before all are sent
            for n in range(4):
                hog.send(pb.FrameCall(id=n, authorize_batch=batch))  # and never read
        with _frames(tight) as other:
            small = pb.FrameCall(id=9, authorize_batch=_big_batch(1))
            assert other.call(small).authorize_batch.decisions  # a worker is free again
        assert _drained_to_the_end(hog)
    assert f"frames: closing the connection of pid {os.getpid()}: cannot send a reply" in caplog.text


def test_connections_beyond_the_bound_are_closed_at_once(
    framed: tuple[MeshgateServer, Path], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    server, _ = framed
    monkeypatch.setattr(frames_module, "MAX_CONNECTIONS", 1)
    with _frames(server) as first, caplog.at_level(logging.WARNING, "meshgate.server"):
        assert first.call(_token_call(1)).id == 1  # accepted and counted
        with _frames(server) as second:
            assert second.closed_by_peer()
        assert first.call(_token_call(2)).id == 2
    assert (
        f"frames: refused a connection from pid {os.getpid()}: 1 connections are open already" in caplog.text
    )
