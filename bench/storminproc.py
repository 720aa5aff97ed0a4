"""The storm replay's calls in process: `python -m bench.storminproc [--batch B] [--cprofile FILE]`.

The same messages as bench/stormreplay.py, serialized, handed to the service's own interceptor chain
(`app.interceptor_chain`, without admission) and both servicers, built by `app.build_components` from the
same config, without a gRPC transport: what meshgate's own code costs per storm client, apart from
grpcio's per-call work. Process CPU (`time.process_time`, so the audit writer thread counts) over each
storm; run it pinned (`taskset -c 1`) and under the bench lock. `--cprofile` writes a profile of one more
storm.
"""

from __future__ import annotations

import argparse
import cProfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format
from meshgate.config.service import load_config
from meshgate.server import app
from meshgate.server.revision_feed import RevisionFeed
from meshgate.server.servicer import AuthenticationServicer, AuthorizationServicer
from meshgate.v1 import meshgate_pb2 as pb

from bench.brokerenv import Keys, jwks_server
from bench.stormreplay import authenticate_item, authorize_items, storm_config

Call = Callable[[bytes], bytes]
AUTHENTICATE = "/meshgate.v1.Authentication/AuthenticateBatch"
AUTHORIZE = "/meshgate.v1.Authorization/AuthorizeBatch"


class _Context:
    """What the servicers and interceptors ask of a grpc.ServicerContext on a successful call."""

    def time_remaining(self) -> float:
        return 1.0

    def code(self) -> None:
        return None

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise RuntimeError(f"{code}: {details}")


class _Details(grpc.HandlerCallDetails):
    def __init__(self, method: str) -> None:
        self.method = method
        self.invocation_metadata = ()


def _calls(c: app.Components) -> dict[str, Call]:
    """Each method as the server runs it: deserialize, the interceptor chain, servicer, serialize."""
    authn = AuthenticationServicer(c.authenticator)
    feed = RevisionFeed(lambda: ("", ""))
    authz = AuthorizationServicer(c.policies, c.authenticator, feed, c.memo)
    chain = app.interceptor_chain(c)
    out: dict[str, Call] = {}
    for method, behavior, message in (
        (AUTHENTICATE, authn.AuthenticateBatch, pb.AuthenticateBatchRequest),
        (AUTHORIZE, authz.AuthorizeBatch, pb.AuthorizeBatchRequest),
    ):
        handler: Any = grpc.unary_unary_rpc_method_handler(behavior)
        handler = chain.intercept_service(_given(handler), _Details(method))
        out[method] = _serving(handler.unary_unary, message.FromString)
    return out


def _given(handler: Any) -> Callable[[grpc.HandlerCallDetails], Any]:
    return lambda _details: handler


def _serving(behavior: Callable[[Any, Any], Any], parse: Callable[[bytes], Any]) -> Call:
    return lambda raw: bytes(behavior(parse(raw), _Context()).SerializeToString())


def _messages(keys: Keys, clients: range, batch: int) -> tuple[list[bytes], list[bytes]]:
    tokens = [(i, keys.token("meshgate", i)) for i in clients]
    groups = [tokens[n : n + batch] for n in range(0, len(tokens), batch)]
    authn = [{"requests": [authenticate_item(t, i) for i, t in g]} for g in groups]
    authz = [{"requests": [item for i, t in g for item in authorize_items(t, i)]} for g in groups]
    return (
        [json_format.ParseDict(m, pb.AuthenticateBatchRequest()).SerializeToString() for m in authn],
        [json_format.ParseDict(m, pb.AuthorizeBatchRequest()).SerializeToString() for m in authz],
    )


def _storm(calls: dict[str, Call], authn: list[bytes], authz: list[bytes]) -> tuple[float, float]:
    """CPU seconds of the authentications, then of the authorizations (audit writes included)."""
    began = time.process_time()
    for raw in authn:
        calls[AUTHENTICATE](raw)
    time.sleep(0.05)  # the audit writer's linger: its lines are written within the phase
    middle = time.process_time()
    for raw in authz:
        calls[AUTHORIZE](raw)
    time.sleep(0.05)
    return middle - began, time.process_time() - middle


def run(clients: int, batch: int, storms: int, profile: Path | None) -> None:
    keys = Keys()
    with tempfile.TemporaryDirectory(prefix="meshgate-storminproc-") as tmp, jwks_server(keys.jwks()) as url:
        components = app.build_components(load_config(storm_config(Path(tmp), url)))
        app.start_background(components)
        calls = _calls(components)
        _storm(calls, *_messages(keys, range(10**6, 10**6 + 300), batch))  # warm-up, discarded
        for n in range(storms):
            authn, authz = _storm(calls, *_messages(keys, range(n * clients, (n + 1) * clients), batch))
            print(
                f"batch {batch}: {(authn + authz) / clients * 1e6:.0f} us CPU per client "
                f"(authn {authn / clients * 1e6:.0f}, authz {authz / clients * 1e6:.0f})",
                flush=True,
            )
        if profile is not None:
            authn_msgs, authz_msgs = _messages(keys, range(storms * clients, (storms + 1) * clients), batch)
            profiler = cProfile.Profile()
            profiler.runcall(_storm, calls, authn_msgs, authz_msgs)
            profiler.dump_stats(profile)
        app.close_components(components)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.storminproc", description=__doc__)
    parser.add_argument("--clients", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=2, help="clients' items per call")
    parser.add_argument("--storms", type=int, default=3)
    parser.add_argument("--cprofile", type=Path, help="pstats output of one more storm")
    args = parser.parse_args(argv)
    run(args.clients, args.batch, args.storms, args.cprofile)


if __name__ == "__main__":
    main()
