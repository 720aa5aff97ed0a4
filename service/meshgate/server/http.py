"""The HTTP side: /healthz, /readyz, /metrics and the read-only /v1/explain and /v1/who-can.

A thin Starlette app over the same components as gRPC, served by uvicorn inside the same event loop.
Nothing here changes state; explain and who-can answer from the policy snapshot serving now and are
not audited as decisions (nothing is enforced by them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from meshgate.errors import MeshgateError
from meshgate.model import AccessRequest
from meshgate.policy import PolicyStore
from meshgate.policy.resources import parse_resource
from meshgate.server.readiness import Readiness
from meshgate.server.wire import decision_json, grantee_json

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HttpDeps:
    readiness: Callable[[], Readiness]
    registry: CollectorRegistry
    policies: PolicyStore
    policy_endpoints: bool = True


def _problem(status: int, code: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status)


def _required(request: Request, *names: str) -> dict[str, str] | JSONResponse:
    params = {name: request.query_params.get(name, "") for name in (*names, "subscription")}
    missing = [name for name in names if not params[name]]
    if missing:
        return _problem(400, "bad_request", f"missing query parameter(s): {', '.join(missing)}")
    return params


def build_app(deps: HttpDeps) -> Starlette:
    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def readyz(_: Request) -> Response:
        readiness = deps.readiness()
        return JSONResponse(readiness.as_json(), status_code=200 if readiness.ready else 503)

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(deps.registry), media_type=CONTENT_TYPE_LATEST)

    async def explain(request: Request) -> Response:
        params = _required(request, "principal", "action", "resource")
        if isinstance(params, JSONResponse):
            return params
        try:
            access = AccessRequest(
                params["principal"],
                params["action"],
                parse_resource(params["resource"]),
                params["subscription"],
            )
            snapshot = deps.policies.current()
            return JSONResponse(decision_json(snapshot.decide(access), snapshot.commit))
        except MeshgateError as err:
            return _problem(503 if err.code == "policy_unavailable" else 400, err.code, err.message)

    async def who_can(request: Request) -> Response:
        params = _required(request, "action", "resource")
        if isinstance(params, JSONResponse):
            return params
        try:
            snapshot = deps.policies.current()
            found = snapshot.who_can(params["action"], params["resource"], params["subscription"])
        except MeshgateError as err:
            return _problem(503 if err.code == "policy_unavailable" else 400, err.code, err.message)
        grantees = [grantee_json(g) for g in found]
        return JSONResponse({"revision": snapshot.revision, "commit": snapshot.commit, "grantees": grantees})

    routes = [Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", metrics)]
    if deps.policy_endpoints:
        routes += [Route("/v1/explain", explain), Route("/v1/who-can", who_can)]
    return Starlette(routes=routes)


@dataclass
class RunningHttp:
    server: uvicorn.Server
    task: asyncio.Task[None]
    port: int

    async def stop(self) -> None:
        self.server.should_exit = True
        await asyncio.wait_for(self.task, timeout=10)


async def start_http(listen: str, app: Starlette) -> RunningHttp:
    """Bind `host:port` (0 picks a free port) and serve in this event loop until `stop()`."""
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, int(port)))
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    # `meshgate serve` owns SIGTERM/SIGINT and stops everything in order; uvicorn must not take them over.
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    task = asyncio.create_task(server.serve(sockets=[sock]), name="meshgate-http")
    while not server.started and not task.done():
        await asyncio.sleep(0.01)
    if task.done():
        task.result()  # raises what stopped it
    return RunningHttp(server, task, sock.getsockname()[1])
