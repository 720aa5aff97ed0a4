"""`meshgate serve`: run the gRPC service until SIGINT/SIGTERM, then drain and stop."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import signal
import sys

from meshgate.cli import options
from meshgate.config.service import ServiceConfig, load_config
from meshgate.errors import MeshgateError
from meshgate.server import logs
from meshgate.server.app import serve


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("serve", help="run the meshgate gRPC service")
    options.add_config(parser, "service configuration file (YAML)")
    parser.add_argument("--listen", help="override grpc.listen (host:port or unix:/path)")
    options.add_policy(parser, required=False, help="override policy.dir")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR")
    options.add_output(parser, table="log lines as text", json="log lines and the ready line as JSON objects")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    logs.configure(args.log_level, args.output)
    env = dict(os.environ)
    if args.listen:
        env["MESHGATE_GRPC__LISTEN"] = args.listen
    if args.policy:
        env["MESHGATE_POLICY__DIR"] = str(args.policy.resolve())
    try:
        asyncio.run(_serve_until_signal(load_config(args.config, env=env), args.output))
    except MeshgateError as err:
        print(f"meshgate serve: {err}", file=sys.stderr)
        return 2
    return 0


def _announce(output: str, port: int) -> None:
    if output == "json":
        print(json.dumps({"event": "ready", "port": port}), flush=True)
    else:
        print(f"meshgate: ready on port {port}", flush=True)


async def _serve_until_signal(config: ServiceConfig, output: str) -> None:
    task = asyncio.create_task(serve(config, ready=functools.partial(_announce, output)))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task
