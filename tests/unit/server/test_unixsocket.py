"""`socket_state`: what a `unix:` listener finds at its path before it binds (grpcio replaces a live one)."""

from __future__ import annotations

import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from meshgate.server.unixsocket import SocketState, socket_state


@pytest.fixture
def folder() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="mg-sock-", dir="/tmp"))  # a socket path has at most 107 bytes
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def test_an_absent_path_is_free(folder: Path) -> None:
    assert socket_state(folder / "s") is SocketState.ABSENT


def test_a_socket_someone_listens_on_is_live(folder: Path) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(folder / "s"))
        server.listen(1)
        assert socket_state(folder / "s") is SocketState.LIVE


def test_a_socket_file_left_behind_is_stale(folder: Path) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(folder / "s"))  # closed without unlinking: as after a killed process
    assert (folder / "s").exists()
    assert socket_state(folder / "s") is SocketState.STALE


def test_a_regular_file_is_not_a_socket(folder: Path) -> None:
    (folder / "s").write_text("")
    assert socket_state(folder / "s") is SocketState.NOT_A_SOCKET
