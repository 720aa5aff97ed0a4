"""The frames listener: the broker plugin's two hot calls as length-prefixed protobuf over a second Unix
socket beside the gRPC one (docs/frames.md).

On the socket each message is a 4-byte big-endian length N, then N bytes (N at most `grpc.max_message_bytes`):
a `FrameCall` from the plugin, a `FrameReply` from the service. One connection carries many calls at once;
each reply names its call's `id` and goes out when the call finishes.

Threads, as the rest of the process: one accepts; one per connection reads frames and hands each call to the
method's queue on the gRPC server's worker pool (`admission.LoadShedder.submit`: a full queue is refused at
once with RESOURCE_EXHAUSTED, counted as over gRPC); the worker runs the call through the gRPC chain
(`Chain.unary`: recovery, observing, the deadline check, the servicer, under the gRPC method's name) and
writes the reply under the connection's lock. A slow call (a JWKS refetch) holds its worker, never the
reader, so the connection's other calls are still read and answered. A call that fails is answered with the
`FrameError` of the status the chain's recovery ended it with (`status.py`, the one place errors become
codes).

Bad input (a length over the limit, bytes that are not a `FrameCall`, a `FrameCall` with no call set) closes
that connection only, with a warning naming the peer's pid (`SO_PEERCRED`). A peer that does not read its
replies for `SEND_TIMEOUT_SECONDS` loses its connection, so it cannot hold workers.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import os
import socket
import stat
import struct
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NoReturn, cast

import grpc
from google.protobuf.message import DecodeError

from meshgate.errors import ConfigError
from meshgate.server.chain import Behaviour
from meshgate.server.interceptors import AUTHENTICATE_BATCH, AUTHORIZE_BATCH
from meshgate.server.status import status_for
from meshgate.server.unixsocket import SocketState, socket_state
from meshgate.v1 import meshgate_pb2 as pb

log = logging.getLogger("meshgate.server")
HEADER = struct.Struct(">I")
SEND_TIMEOUT_SECONDS = 5.0
MAX_CONNECTIONS = 64  # a broker plugin keeps one; the excess is closed at once (it asks over gRPC)
# The FrameCall's `call` field -> the gRPC method it stands for; the FrameReply's field has the same name.
METHODS: Mapping[str, str] = {"authenticate_batch": AUTHENTICATE_BATCH, "authorize_batch": AUTHORIZE_BATCH}
Submit = Callable[[str, Callable[[], object]], None]


class BadFrame(Exception):
    """What was wrong with the peer's bytes; its connection is closed."""


def encode(message: pb.FrameCall | pb.FrameReply) -> bytes:
    body = message.SerializeToString()
    return HEADER.pack(len(body)) + body


def read_frame(sock: socket.socket, limit: int) -> bytes | None:
    """The next frame's body; None when the peer closed between frames."""
    header = _read_exactly(sock, HEADER.size, at_start=True)
    if header is None:
        return None
    (length,) = HEADER.unpack(header)
    if length > limit:
        raise BadFrame(f"a frame of {length} bytes, over the limit of {limit} (grpc.max_message_bytes)")
    return _read_exactly(sock, length, at_start=False) or b""


def _read_exactly(sock: socket.socket, size: int, *, at_start: bool) -> bytes | None:
    chunks, got = [], 0
    while got < size:
        chunk = sock.recv(min(size - got, 1 << 16))
        if not chunk:
            if at_start and got == 0:
                return None
            raise BadFrame(f"the connection ended inside a frame ({got} of {size} bytes)")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def parse_call(body: bytes) -> tuple[pb.FrameCall, str]:
    """The call and the name of its `call` field."""
    try:
        call = pb.FrameCall.FromString(body)
    except DecodeError as error:
        raise BadFrame(f"a frame of {len(body)} bytes that is not a FrameCall ({error})") from None
    which = call.WhichOneof("call")
    if which is None:
        raise BadFrame(f"FrameCall {call.id} has no call set (authenticate_batch or authorize_batch)")
    return call, which


def error_reply(call_id: int, code: grpc.StatusCode, detail: str) -> pb.FrameReply:
    number: int = code.value[0]
    return pb.FrameReply(id=call_id, error=pb.FrameError(code=number, message=detail))


class FrameAborted(Exception):
    """`FrameContext.abort`: the chain's recovery ended the call with this status."""

    def __init__(self, code: grpc.StatusCode, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class FrameContext:
    """The parts of `grpc.ServicerContext` the chain and the servicers use, for one frames call. The
    deadline is the call's `budget_ms` counted from when its frame was read (None: no deadline)."""

    def __init__(self, deadline: float | None, peer: str, open_: Callable[[], bool] = lambda: True) -> None:
        self._deadline = deadline
        self._peer = peer
        self._open = open_
        self._code: grpc.StatusCode | None = None
        self._details = ""

    def time_remaining(self) -> float | None:
        return None if self._deadline is None else max(self._deadline - time.monotonic(), 0.0)

    def is_active(self) -> bool:
        return self._open() and self.time_remaining() != 0.0

    def peer(self) -> str:
        return self._peer

    def peer_identities(self) -> None:
        return None

    def invocation_metadata(self) -> tuple[()]:
        return ()

    def code(self) -> grpc.StatusCode | None:
        return self._code

    def details(self) -> str:
        return self._details

    def set_code(self, code: grpc.StatusCode) -> None:
        self._code = code

    def set_details(self, details: str) -> None:
        self._details = details

    def abort(self, code: grpc.StatusCode, details: str) -> NoReturn:
        self._code, self._details = code, details
        raise FrameAborted(code, details)


def answer(
    call_id: int, field: str, behaviour: Behaviour, request: Any, context: FrameContext
) -> pb.FrameReply:
    """Run one call through its chained behaviour; its reply, or the error the chain ended it with."""
    try:
        response = behaviour(request, cast(grpc.ServicerContext, context))
    except FrameAborted as aborted:
        return error_reply(call_id, aborted.code, aborted.detail)
    except Exception as error:  # only if the chain's recovery itself failed
        log.error("frames: %s failed", METHODS[field], exc_info=error)
        return error_reply(call_id, *status_for(error))
    return pb.FrameReply(id=call_id, **{field: response})


def peer_pid(sock: socket.socket) -> int:
    """The connecting process's pid (`SO_PEERCRED`); 0 where the kernel does not say."""
    try:
        pid, _uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    except OSError:
        return 0
    return int(pid)


class _Connection:
    """One peer: its reader's socket, the write lock, and the calls it has in flight."""

    def __init__(
        self, sock: socket.socket, pid: int, limit: int, on_idle: Callable[[_Connection], None]
    ) -> None:
        self.sock = sock
        self.pid = pid
        self._limit = limit
        self._on_idle = on_idle
        self._lock = threading.Lock()
        self._in_flight = 0
        self._reading = True
        self._closed = False
        seconds, fraction = divmod(SEND_TIMEOUT_SECONDS, 1.0)
        timeout = struct.pack("ll", int(seconds), int(fraction * 1_000_000))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeout)

    @property
    def open(self) -> bool:
        return not self._closed

    def begin(self) -> None:
        with self._lock:
            self._in_flight += 1

    def reply(self, reply: pb.FrameReply) -> None:
        """Send `reply` and end its call; a peer that cannot take it loses the connection."""
        data = encode(reply)
        if len(data) - HEADER.size > self._limit:  # as grpcio refuses to send a response over the limit
            detail = (
                f"the reply is {len(data) - HEADER.size} bytes, over grpc.max_message_bytes ({self._limit})"
            )
            data = encode(error_reply(reply.id, grpc.StatusCode.RESOURCE_EXHAUSTED, detail))
        with self._lock:
            if not self._closed:
                try:
                    self.sock.sendall(data)
                except OSError as error:
                    log.info(
                        "frames: closing the connection of pid %d: cannot send a reply: %s", self.pid, error
                    )
                    self._close_locked()
            self._in_flight -= 1
            idle = self._in_flight == 0 and not self._reading
            if idle:
                self._close_locked()
        if idle:
            self._on_idle(self)

    def done_reading(self, *, now: bool) -> None:
        """The reader stopped: close now (bad input), or once the calls in flight are answered."""
        with self._lock:
            self._reading = False
            idle = self._in_flight == 0
            if now or idle:
                self._close_locked()
        if idle:
            self._on_idle(self)

    def stop_reading(self) -> None:
        with self._lock, contextlib.suppress(OSError):
            if not self._closed:
                self.sock.shutdown(socket.SHUT_RD)

    def close(self) -> None:
        with self._lock:
            self._close_locked()

    def _close_locked(self) -> None:
        if not self._closed:
            self._closed = True
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)
            self.sock.close()


class FramesListener:
    """Serves the frames socket `bind_socket` made at `path`: `start`, then `stop(grace)`."""

    def __init__(
        self, sock: socket.socket, path: Path, behaviours: Mapping[str, Behaviour], submit: Submit, limit: int
    ) -> None:
        """`behaviours`: each gRPC method name's chained behaviour (`Chain.unary`); `submit(method, call)`
        runs a call on that method's queue or raises the refusal (`LoadShedder.submit`)."""
        self.path = path
        self._sock = sock
        self._inode = os.stat(path).st_ino
        self._behaviours = behaviours
        self._submit = submit
        self._limit = limit
        self._connections: set[_Connection] = set()
        self._stopping = False
        self._lock = threading.Condition()
        self._accepting = threading.Thread(target=self._accept, name="meshgate-frames-accept", daemon=True)

    def start(self, mode_of: Path | None = None) -> None:
        """Accept connections; first give the socket file the permission bits of `mode_of` (the gRPC
        socket), so that exactly the processes that may call over gRPC may call here."""
        if mode_of is not None:
            os.chmod(self.path, stat.S_IMODE(os.stat(mode_of).st_mode))
        self._accepting.start()
        log.info("meshgate serving frames on %s (docs/frames.md)", self.path)

    def stop(self, grace: float | None = None) -> threading.Event:
        """Stop accepting and reading (the socket file goes), let the calls in flight finish within `grace`,
        then close every connection. Returns at once; the event is set when all is closed."""
        self._close_listener()
        with self._lock:
            self._stopping = True  # a connection accepted meanwhile is closed, not served
            connections = list(self._connections)
        for connection in connections:
            connection.stop_reading()
        stopped = threading.Event()
        threading.Thread(
            target=self._finish, args=(grace or 0.0, stopped), name="meshgate-frames-stop", daemon=True
        ).start()
        return stopped

    def _finish(self, grace: float, stopped: threading.Event) -> None:
        with self._lock:
            self._lock.wait_for(lambda: not self._connections, timeout=grace)
            connections = list(self._connections)
        for connection in connections:
            connection.close()
        stopped.set()

    def _close_listener(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        self._sock.close()
        with contextlib.suppress(OSError):
            if os.stat(self.path).st_ino == self._inode:  # not a later serve's socket
                os.unlink(self.path)

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._sock.accept()
            except OSError:
                return  # `stop` closed the socket
            self._admit(sock)

    def _admit(self, sock: socket.socket) -> None:
        pid = peer_pid(sock)
        with self._lock:
            stopping, full = self._stopping, len(self._connections) >= MAX_CONNECTIONS
            if not (stopping or full):
                connection = _Connection(sock, pid, self._limit, self._forget)
                self._connections.add(connection)
        if stopping:
            sock.close()
            return
        if full:
            log.warning(
                "frames: refused a connection from pid %d: %d connections are open already",
                pid,
                MAX_CONNECTIONS,
            )
            sock.close()
            return
        threading.Thread(
            target=self._read, args=(connection,), name=f"meshgate-frames-{pid}", daemon=True
        ).start()

    def _forget(self, connection: _Connection) -> None:
        with self._lock:
            self._connections.discard(connection)
            self._lock.notify_all()

    def _read(self, connection: _Connection) -> None:
        bad = False
        try:
            while (body := read_frame(connection.sock, self._limit)) is not None:
                self._dispatch(connection, *parse_call(body), time.monotonic())
        except BadFrame as error:
            bad = True
            log.warning("frames: closing the connection of pid %d: %s", connection.pid, error)
        except OSError as error:
            bad = error.errno != errno.EBADF  # EBADF: closed here while reading (stop, a failed reply)
        connection.done_reading(now=bad)

    def _dispatch(self, connection: _Connection, call: pb.FrameCall, field: str, read_at: float) -> None:
        method = METHODS[field]
        deadline = read_at + call.budget_ms / 1000 if call.budget_ms else None
        context = FrameContext(deadline, f"unix:{self.path}", lambda: connection.open)
        run = functools.partial(
            _run, connection, call.id, field, self._behaviours[method], getattr(call, field), context
        )
        connection.begin()
        try:
            self._submit(method, run)
        except Exception as refused:  # a full queue (`Refusal`), or the pool shut down at stop
            connection.reply(error_reply(call.id, *status_for(refused)))


def _run(
    connection: _Connection,
    call_id: int,
    field: str,
    behaviour: Behaviour,
    request: Any,
    context: FrameContext,
) -> None:
    connection.reply(answer(call_id, field, behaviour, request, context))


def bind_socket(path: Path) -> socket.socket:
    """A listening socket at `path`; a stale socket file (no one answers) is replaced, a live one or any
    other file is a ConfigError."""
    _clear_stale(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(path))
        sock.listen(64)
    except OSError as error:
        sock.close()
        raise ConfigError(
            f"grpc.listen: cannot listen on the frames socket {path}: {error.strerror}; stop the other "
            "process, choose another grpc.listen, or set grpc.frames: false"
        ) from error
    return sock


def _clear_stale(path: Path) -> None:
    try:
        state = socket_state(path)
    except OSError as error:
        raise ConfigError(f"grpc.listen: cannot check the frames socket {path}: {error}") from error
    if state is SocketState.NOT_A_SOCKET:
        raise ConfigError(
            f"grpc.listen: the frames socket {path} exists and is not a socket; remove it, choose another "
            "grpc.listen, or set grpc.frames: false"
        )
    if state is SocketState.STALE:
        log.info("frames: replacing the stale socket %s (no process answers there)", path)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    elif state is SocketState.LIVE:
        raise ConfigError(
            f"grpc.listen: cannot listen on the frames socket {path}: another process answers there (another "
            "meshgate serve?); stop the other process, choose another grpc.listen, or set grpc.frames: false"
        )
