"""A bare gRPC server with meshgate's Authorize signature that answers a constant allow: the ceiling of a
one-process Python gRPC service on this machine (no interceptors, no decoding, no policy). Two serving
models: `aio` (grpc.aio, one event loop) and `sync` (grpc.server with a thread pool of `workers`, the
model `meshgate serve` uses).

    python -m bench.echo_server LISTEN [aio|sync] [WORKERS]
"""

from __future__ import annotations

import asyncio
import sys
from concurrent.futures import ThreadPoolExecutor

import grpc
from meshgate.v1 import meshgate_pb2 as pb
from meshgate.v1 import meshgate_pb2_grpc as pb_grpc

ANSWER = pb.AuthorizeResponse(
    decision=pb.Decision(allowed=True, rule_id="echo", reason_code="allowed_by_rule")
)


class AsyncEcho(pb_grpc.AuthorizationServicer):
    async def Authorize(self, request: pb.AuthorizeRequest, context: object) -> pb.AuthorizeResponse:
        return ANSWER


class SyncEcho(pb_grpc.AuthorizationServicer):
    def Authorize(self, request: pb.AuthorizeRequest, context: object) -> pb.AuthorizeResponse:
        return ANSWER


async def serve_aio(listen: str) -> None:
    server = grpc.aio.server()
    # The echo answers Authorize only (the bare-server baseline): the other methods stay abstract.
    pb_grpc.add_AuthorizationServicer_to_server(AsyncEcho(), server)  # type: ignore[abstract]
    server.add_insecure_port(listen)
    await server.start()
    print("echo: ready on port", flush=True)
    await server.wait_for_termination()


def serve_sync(listen: str, workers: int) -> None:
    server = grpc.server(ThreadPoolExecutor(max_workers=workers))
    pb_grpc.add_AuthorizationServicer_to_server(SyncEcho(), server)  # type: ignore[abstract]
    server.add_insecure_port(listen)
    server.start()
    print("echo: ready on port", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    model = sys.argv[2] if len(sys.argv) > 2 else "aio"
    if model == "sync":
        serve_sync(sys.argv[1], int(sys.argv[3]) if len(sys.argv) > 3 else 8)
    else:
        asyncio.run(serve_aio(sys.argv[1]))
