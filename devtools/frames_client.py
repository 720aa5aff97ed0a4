"""A small frames client for tests and the bench (the broker plugin has its own): connect to the service's
`/path.frames`, send `FrameCall`s, read `FrameReply`s (docs/frames.md)."""

from __future__ import annotations

import socket
from pathlib import Path

from meshgate.server.frames import encode, read_frame
from meshgate.v1 import meshgate_pb2 as pb

REPLY_LIMIT = 1 << 26


class FramesClient:
    def __init__(self, path: Path, timeout: float = 10.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))

    def send(self, call: pb.FrameCall) -> None:
        self.sock.sendall(encode(call))

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def receive(self) -> pb.FrameReply:
        body = read_frame(self.sock, REPLY_LIMIT)
        if body is None:
            raise ConnectionError("the service closed the frames connection")
        return pb.FrameReply.FromString(body)

    def call(self, call: pb.FrameCall) -> pb.FrameReply:
        """One call with nothing else in flight: send it, read its reply."""
        self.send(call)
        return self.receive()

    def closed_by_peer(self) -> bool:
        """True once the service has closed the connection (reads end-of-stream or a reset)."""
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> FramesClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
