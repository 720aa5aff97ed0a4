"""The one server interceptor: recovery, metrics, audit and logging for every unary call, in one place.

Order inside a call: run the handler; an exception that escapes it (a bug: the servicer maps every domain
error to a status itself) becomes INTERNAL without internals in the detail (recovery); then the RPC is
timed and counted (metrics), the decisions are counted (one metrics update per call, however many
decisions it carried) and each decision the audit log will write (every deny, the allows sampling keeps)
gets its record built from the request and the response; an authentication gets its record the same
way. The records of one call share its time (taken once) and are handed to the audit log together (one
offer per sink, never blocking); the call is logged at DEBUG. Observing never fails a call:
an error there is logged and the answer goes out unchanged.

The wrapper of each method is built on its first call and reused while the inner handler stays the same.
Synchronous (`grpc.server`): the wrapper runs in the call's worker thread; the metrics, the audit log and
the wrapper cache are safe to share between threads.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeAlias

import grpc

from meshgate.audit.events import authentication_record, decision_record, timestamp
from meshgate.audit.log import AuditLog
from meshgate.clock import Clock
from meshgate.server.metrics import AuthenticationLabels, DecisionLabels, EventMetrics, authentication_labels
from meshgate.v1 import meshgate_pb2 as pb

log = logging.getLogger("meshgate.calls")

Behavior = Callable[[Any, grpc.ServicerContext], Any]
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
if TYPE_CHECKING:  # generic in grpc-stubs only; grpcio's classes cannot be subscripted at runtime
    ServerInterceptor = grpc.ServerInterceptor[Any, Any]
else:
    ServerInterceptor = grpc.ServerInterceptor
Continuation: TypeAlias = "Callable[[grpc.HandlerCallDetails], Handler | None]"
Decided = Iterable[tuple[pb.AuthorizeRequest, pb.Decision]]
Authenticated = Iterable[tuple[pb.AuthenticateRequest, pb.AuthenticateResponse]]


def _authorize(request: pb.AuthorizeRequest, response: pb.AuthorizeResponse) -> Decided:
    return ((request, response.decision),)


def _authorize_batch(request: pb.AuthorizeBatchRequest, response: pb.AuthorizeBatchResponse) -> Decided:
    return zip(request.requests, response.decisions, strict=False)


DECISIONS: dict[str, Callable[[Any, Any], Decided]] = {
    "/meshgate.v1.Authorization/Authorize": _authorize,
    "/meshgate.v1.Authorization/AuthorizeBatch": _authorize_batch,
}
AUTHENTICATE = "/meshgate.v1.Authentication/Authenticate"
AUTHENTICATE_BATCH = "/meshgate.v1.Authentication/AuthenticateBatch"


def short_name(method: str) -> str:
    """`/meshgate.v1.Authorization/Authorize` -> `Authorization/Authorize` (the metric label)."""
    service, _, name = method.rpartition("/")
    return f"{service.rpartition('.')[2]}/{name}"


class ObservingInterceptor(ServerInterceptor):
    def __init__(self, metrics: EventMetrics, audit: AuditLog, clock: Clock) -> None:
        self._metrics = metrics
        self._audit = audit
        self._clock = clock
        # method -> (the handler we were given, our wrapper): built once, not on every call.
        self._wrapped: dict[str, tuple[object, Handler]] = {}

    def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler  # streams and unknown methods pass through untouched
        method = handler_call_details.method
        known = self._wrapped.get(method)
        if known is not None and known[0] is handler:
            return known[1]
        wrapped = grpc.unary_unary_rpc_method_handler(
            self._wrap(method, handler.unary_unary),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
        self._wrapped[method] = (handler, wrapped)  # a race builds it twice: both wrappers are equal
        return wrapped

    def _wrap(self, method: str, behavior: Behavior) -> Behavior:
        label = short_name(method)
        observe = self._observer(method)

        def call(request: Any, context: grpc.ServicerContext) -> Any:
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            try:
                response = behavior(request, context)
            except Exception as error:
                # Set by `context.abort`, which raised to end the call (grpcio has `code()`, grpc-stubs not).
                aborted: grpc.StatusCode | None = context.code()  # type: ignore[attr-defined]
                if aborted is not None:
                    code = aborted
                    raise
                code = grpc.StatusCode.INTERNAL
                log.exception("%s failed", method)
                context.abort(code, f"internal: {type(error).__name__}")
            finally:
                self._finish(label, code, time.perf_counter() - started)
            if observe is not None:
                try:
                    observe(request, response)
                except Exception:
                    log.exception("could not audit %s", method)
            return response

        return call

    def _observer(self, method: str) -> Callable[[Any, Any], None] | None:
        decided = DECISIONS.get(method)
        if decided is not None:
            return lambda request, response: self._decisions(decided(request, response))
        if method == AUTHENTICATE:
            return self._authentication
        if method == AUTHENTICATE_BATCH:
            return self._authentications
        return None

    def _finish(self, label: str, code: grpc.StatusCode, seconds: float) -> None:
        self._metrics.observe_rpc(label, code.name, seconds)
        log.debug("%s %s in %.2f ms", label, code.name, seconds * 1000)

    def _decisions(self, decided: Decided) -> None:
        """One metrics update per call; an audit record only for what the audit log will write, all of them
        handed over at once."""
        counts: dict[DecisionLabels, int] = {}
        audit = self._audit if self._audit.enabled else None
        at = timestamp(self._clock.now()) if audit is not None else ""
        records = []
        for request, decision in decided:
            allowed = decision.allowed
            key = (allowed, request.action, decision.reason_code)
            counts[key] = counts.get(key, 0) + 1
            if audit is not None and audit.admits(not allowed):
                records.append(decision_record(at, request, decision))
        self._metrics.observe_decisions(counts)
        if audit is not None:
            audit.write_all(records)

    def _authentications(
        self, request: pb.AuthenticateBatchRequest, response: pb.AuthenticateBatchResponse
    ) -> None:
        self._authenticated(zip(request.requests, response.responses, strict=False))

    def _authentication(self, request: pb.AuthenticateRequest, response: pb.AuthenticateResponse) -> None:
        self._authenticated(((request, response),))

    def _authenticated(self, answered: Authenticated) -> None:
        """As `_decisions`: the call's time once, one metrics update per call, one audit hand-over."""
        at = timestamp(self._clock.now())
        records = [authentication_record(at, request, response) for request, response in answered]
        counts: dict[AuthenticationLabels, int] = {}
        for record in records:
            labels = authentication_labels(record)
            counts[labels] = counts.get(labels, 0) + 1
        self._metrics.observe_authentications(counts)
        self._audit.record_all(records)
