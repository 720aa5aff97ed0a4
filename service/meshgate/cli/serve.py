"""`meshgate serve`: run the gRPC service until SIGINT/SIGTERM, then drain and stop."""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import signal
import socket
import sys
from collections.abc import Callable, Iterator
from types import FrameType

from meshgate.cli import options
from meshgate.config.service import load_config
from meshgate.errors import MeshgateError
from meshgate.heap import limit_arenas
from meshgate.server import logs
from meshgate.server.app import serve

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("serve", help="run the meshgate gRPC service")
    options.add_config(parser, "service configuration file (YAML)")
    parser.add_argument("--listen", help="override grpc.listen (host:port or unix:/path)")
    options.add_policy(parser, required=False, help="override policy.dir")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR")
    options.add_output(parser, table="log lines as text", json="log lines and the ready line as JSON objects")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    limit_arenas()  # before any thread starts (meshgate.heap)
    logs.configure(args.log_level, args.output)
    env = dict(os.environ)
    if args.listen:
        env["MESHGATE_GRPC__LISTEN"] = args.listen
    if args.policy:
        env["MESHGATE_POLICY__DIR"] = str(args.policy.resolve())
    try:
        config = load_config(args.config, env=env)
        with stop_signals() as wait:
            serve(config, wait, ready=functools.partial(_announce, args.output))
    except MeshgateError as err:
        print(f"meshgate serve: {err}", file=sys.stderr)
        return 2
    return 0


def _announce(output: str, port: int) -> None:
    if output == "json":
        print(json.dumps({"event": "ready", "port": port}), flush=True)
    else:
        print(f"meshgate: ready on port {port}", flush=True)


@contextlib.contextmanager
def stop_signals() -> Iterator[Callable[[], None]]:
    """Inside the block SIGINT and SIGTERM do nothing but end the `wait()` it yields, in the main thread.

    Python's handlers would run in the middle of whatever the main thread does (and SIGINT's raises there);
    instead each signal's number goes to a socket (`signal.set_wakeup_fd`) that `wait()` reads. One that
    comes while the service starts is kept: the start completes (its waits are bounded) and the shutdown
    follows at once, in order. Signals during the shutdown change nothing."""
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    previous = {sig: signal.signal(sig, _noted) for sig in STOP_SIGNALS}
    previous_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    try:
        yield functools.partial(_wait_for_stop, reader)
    finally:
        signal.set_wakeup_fd(previous_fd)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        reader.close()
        writer.close()


def _noted(signum: int, frame: FrameType | None) -> None:
    """The wakeup socket already holds the signal's number."""


def _wait_for_stop(reader: socket.socket) -> None:
    while reader.recv(1)[0] not in STOP_SIGNALS:  # other signals with a Python handler write there too
        pass
