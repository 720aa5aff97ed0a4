"""Whether a Unix socket path is free to listen on.

grpcio unlinks whatever socket file is at a `unix:` address before it binds, even one another process
still answers on, and that process keeps running with no way to be reached: a second `meshgate serve`
would silently take over the socket the broker plugin uses. So both listeners (gRPC and the frames
socket) ask first: an absent path or a stale socket file (no process answers: the last serve was killed)
may be listened on; a live one may not.
"""

from __future__ import annotations

import os
import socket
import stat
from enum import Enum
from pathlib import Path

PROBE_SECONDS = 1.0


class SocketState(Enum):
    ABSENT = "absent"
    STALE = "stale"  # a socket file no process answers on
    LIVE = "live"  # another process accepts connections there
    NOT_A_SOCKET = "not a socket"


def socket_state(path: Path) -> SocketState:
    """What is at `path` now; raises OSError when it cannot tell (e.g. no permission to connect)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return SocketState.ABSENT
    if not stat.S_ISSOCK(mode):
        return SocketState.NOT_A_SOCKET
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(PROBE_SECONDS)
    try:
        probe.connect(str(path))
    except (ConnectionRefusedError, FileNotFoundError):
        return SocketState.STALE
    finally:
        probe.close()
    return SocketState.LIVE
