"""The one server interceptor: recovery, metrics, audit and logging for every unary call, in one place.

Order inside a call: run the handler; an exception that escapes it (a bug: the servicer maps every domain
error to a status itself) becomes INTERNAL without internals in the detail (recovery); then the RPC is
timed and counted (metrics), the decision or authentication records are built from the request and the
response, counted and handed to the audit log (which never blocks), and the call is logged at DEBUG.
Observing never fails a call: an error there is logged and the answer goes out unchanged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import grpc

from meshgate.audit.events import Record, authentication_record, decision_record
from meshgate.audit.log import AuditLog
from meshgate.clock import Clock
from meshgate.server.metrics import EventMetrics
from meshgate.v1 import meshgate_pb2 as pb

log = logging.getLogger("meshgate.calls")

Behavior = Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[Any]]
Continuation = Callable[[grpc.HandlerCallDetails], Awaitable["grpc.RpcMethodHandler[Any, Any]"]]


def _authorize(at: Any, request: pb.AuthorizeRequest, response: pb.AuthorizeResponse) -> list[Record]:
    return [decision_record(at, request, response.decision)]


def _authorize_batch(
    at: Any, request: pb.AuthorizeBatchRequest, response: pb.AuthorizeBatchResponse
) -> list[Record]:
    return [decision_record(at, r, d) for r, d in zip(request.requests, response.decisions, strict=False)]


def _authenticate(
    at: Any, request: pb.AuthenticateRequest, response: pb.AuthenticateResponse
) -> list[Record]:
    return [authentication_record(at, request, response)]


RECORDERS: dict[str, Callable[[Any, Any, Any], list[Record]]] = {
    "/meshgate.v1.Authorization/Authorize": _authorize,
    "/meshgate.v1.Authorization/AuthorizeBatch": _authorize_batch,
    "/meshgate.v1.Authentication/Authenticate": _authenticate,
}


def short_name(method: str) -> str:
    """`/meshgate.v1.Authorization/Authorize` -> `Authorization/Authorize` (the metric label)."""
    service, _, name = method.rpartition("/")
    return f"{service.rpartition('.')[2]}/{name}"


class ObservingInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    def __init__(self, metrics: EventMetrics, audit: AuditLog, clock: Clock) -> None:
        self._metrics = metrics
        self._audit = audit
        self._clock = clock

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler: grpc.RpcMethodHandler[Any, Any] | None = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler  # type: ignore[return-value]  # streams and unknown methods pass through untouched
        method = handler_call_details.method
        behavior: Behavior = handler.unary_unary  # type: ignore[assignment]  # the aio server's handlers are async
        return grpc.unary_unary_rpc_method_handler(
            self._wrap(method, behavior),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _wrap(self, method: str, behavior: Behavior) -> Behavior:
        label = short_name(method)

        async def call(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            try:
                response = await behavior(request, context)
            except (grpc.aio.AbortError, asyncio.CancelledError):
                code = _code_of(context, grpc.StatusCode.CANCELLED)
                raise
            except Exception as error:
                code = grpc.StatusCode.INTERNAL
                log.exception("%s failed", method)
                await context.abort(code, f"internal: {type(error).__name__}")
            finally:
                self._finish(label, code, time.perf_counter() - started)
            self._observe(method, request, response)
            return response

        return call

    def _finish(self, label: str, code: grpc.StatusCode, seconds: float) -> None:
        self._metrics.observe_rpc(label, code.name, seconds)
        log.debug("%s %s in %.2f ms", label, code.name, seconds * 1000)

    def _observe(self, method: str, request: Any, response: Any) -> None:
        recorder = RECORDERS.get(method)
        if recorder is None:
            return
        try:
            self._publish(recorder(self._clock.now(), request, response))
        except Exception:
            log.exception("could not audit %s", method)

    def _publish(self, records: Iterable[Record]) -> None:
        for record in records:
            self._metrics.observe_record(record)
            self._audit.record(record)


def _code_of(context: grpc.aio.ServicerContext[Any, Any], default: grpc.StatusCode) -> grpc.StatusCode:
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code
    return next((c for c in grpc.StatusCode if c.value[0] == code), default)
