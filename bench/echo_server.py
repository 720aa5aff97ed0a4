"""A bare grpc.aio server with meshgate's Authorize signature that answers a constant allow: the ceiling
of a one-process Python gRPC service on this machine (no interceptors, no decoding, no policy).

    python -m bench.echo_server LISTEN
"""

from __future__ import annotations

import asyncio
import sys

import grpc
from meshgate.v1 import meshgate_pb2 as pb
from meshgate.v1 import meshgate_pb2_grpc as pb_grpc

ANSWER = pb.AuthorizeResponse(
    decision=pb.Decision(allowed=True, rule_id="echo", reason_code="allowed_by_rule")
)


class Echo(pb_grpc.AuthorizationServicer):
    async def Authorize(self, request: pb.AuthorizeRequest, context: object) -> pb.AuthorizeResponse:
        return ANSWER


async def main(listen: str) -> None:
    server = grpc.aio.server()
    pb_grpc.add_AuthorizationServicer_to_server(Echo(), server)
    server.add_insecure_port(listen)
    await server.start()
    print("echo: ready on port", flush=True)
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
