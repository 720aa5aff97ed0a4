"""The server's one interceptor chain: what every call passes through, built once per method.

Outermost first:

1. admission (`admission.LoadShedder`): on grpcio's polling thread, the call joins its method's queue or is
   refused at once;
2. recovery: whatever escapes the rest becomes the status `status.py` maps it to. The servicers raise domain
   errors only; anything else is INTERNAL without internals in the detail, logged with its traceback. A
   status the handler set itself (grpc's `abort`, an unimplemented method) stands;
3. the layers, in order: observing (`interceptors.ObservingInterceptor`: metrics, audit, the call log) and
   the deadline check (`admission.DeadlineGuard`); then the servicer.

A `Layer` wraps one unary method's behaviour; on its own it is a complete interceptor too (recovery, then
the layer). `Chain.unary` is recovery plus the layers around one behaviour, the part gRPC and the frames
transport (`frames.py`) share. Server-streaming calls (WatchRevision) get recovery only, and only where
the chain is asked to (`streams=True`). Synchronous (`grpc.server`): the wrappers run in the call's
worker thread.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, TypeAlias

import grpc

from meshgate.server.status import outcome

log = logging.getLogger("meshgate.server")

Behaviour = Callable[[Any, grpc.ServicerContext], Any]
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
if TYPE_CHECKING:  # generic in grpc-stubs only; grpcio's classes cannot be subscripted at runtime
    ServerInterceptor = grpc.ServerInterceptor[Any, Any]
else:
    ServerInterceptor = grpc.ServerInterceptor
Continuation: TypeAlias = "Callable[[grpc.HandlerCallDetails], Handler | None]"


def short_name(method: str) -> str:
    """`/meshgate.v1.Authorization/Authorize` -> `Authorization/Authorize` (the metric label)."""
    service, _, name = method.rpartition("/")
    return f"{service.rpartition('.')[2]}/{name}"


class Admission(Protocol):
    def entrance(self, method: str, handler: Handler) -> Callable[[], Handler]:
        """For one unary method's handler: what picks, as each call arrives, the handler that answers it."""
        ...


class Layer(ServerInterceptor):
    """One step of the chain around a unary method's behaviour."""

    def wrap(self, method: str, behaviour: Behaviour) -> Behaviour:
        raise NotImplementedError

    def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        return self._alone.intercept_service(continuation, handler_call_details)

    @functools.cached_property
    def _alone(self) -> Chain:
        return Chain(self)


class Chain(ServerInterceptor):
    def __init__(self, *layers: Layer, admission: Admission | None = None, streams: bool = False) -> None:
        self._layers = layers
        self._admission = admission
        self._streams = streams
        # method -> (the handler we were given, what picks ours): built once, not on every call.
        self._built: dict[str, tuple[object, Callable[[], Handler]]] = {}

    def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        known = self._built.get(method)
        if known is None or known[0] is not handler:
            known = (handler, self._build(method, handler))
            self._built[method] = known  # a race builds it twice: both are equal
        return known[1]()

    def unary(self, method: str, behaviour: Behaviour) -> Behaviour:
        """`behaviour` (a servicer's unary method) with recovery and the layers around it, as `method` runs
        over gRPC; admission is the transport's."""
        for layer in reversed(self._layers):
            behaviour = layer.wrap(method, behaviour)
        return recovered(method, behaviour)

    def _build(self, method: str, handler: Handler) -> Callable[[], Handler]:
        if handler.unary_unary is not None:
            wrapped = like(handler, self.unary(method, handler.unary_unary))
            if self._admission is not None:
                return self._admission.entrance(method, wrapped)
        elif handler.unary_stream is not None and self._streams:
            wrapped = grpc.unary_stream_rpc_method_handler(
                _recovered_stream(method, handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        else:
            wrapped = handler  # streams elsewhere, and client streams (none here), pass through
        return lambda: wrapped


def like(handler: Handler, behaviour: Behaviour) -> Handler:
    """A unary handler as `handler`, answering with `behaviour`."""
    return grpc.unary_unary_rpc_method_handler(
        behaviour,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def recovered(method: str, behaviour: Behaviour) -> Behaviour:
    def call(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return behaviour(request, context)
        except Exception as error:
            _answer(method, context, error)

    return call


def _recovered_stream(
    method: str, behaviour: Callable[[Any, grpc.ServicerContext], Iterator[Any]]
) -> Callable[[Any, grpc.ServicerContext], Iterator[Any]]:
    def call(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        try:
            yield from behaviour(request, context)
        except Exception as error:
            _answer(method, context, error)

    return call


def _answer(method: str, context: grpc.ServicerContext, error: Exception) -> NoReturn:
    """End the call with the status `error` maps to; `abort` raises, so this never returns."""
    code, detail = outcome(context, error)
    if detail is None:
        raise error  # the handler set its own status
    if code == grpc.StatusCode.INTERNAL:
        log.error("%s failed", method, exc_info=error)
    context.abort(code, detail)
    raise AssertionError("unreachable: abort raises") from error
