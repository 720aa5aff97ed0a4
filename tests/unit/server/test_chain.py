"""The one interceptor chain (`meshgate.server.chain`) without a network: each method's wrapper is built
once for every layer, recovery answers what escapes with the status `status.py` maps it to, a status the
handler set stands, and server streams are recovered where the chain is asked to."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any, NoReturn

import grpc
import pytest
from meshgate.errors import BadRequestError, OverloadedError
from meshgate.server.chain import Behaviour, Chain, Layer

UNARY = "/meshgate.v1.Authorization/Authorize"


class Aborted(Exception):
    pass


class Context:
    def __init__(self, code: grpc.StatusCode | None = None) -> None:
        self.set: grpc.StatusCode | None = code
        self.aborted: tuple[grpc.StatusCode, str] | None = None

    def code(self) -> grpc.StatusCode | None:
        return self.set

    def abort(self, code: grpc.StatusCode, details: str) -> NoReturn:
        self.aborted = (code, details)
        raise Aborted


class Details(grpc.HandlerCallDetails):
    def __init__(self, method: str) -> None:
        self.method = method
        self.invocation_metadata = ()


class Tagging(Layer):
    """Appends its name to what the call answers, and counts the wrappers it built."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.built = 0

    def wrap(self, method: str, behaviour: Behaviour) -> Behaviour:
        self.built += 1
        return lambda request, context: f"{behaviour(request, context)}<{self.name}"


def _through(chain: Chain, handler: Any, method: str = UNARY) -> Any:
    built = chain.intercept_service(lambda _: handler, Details(method))
    assert built is not None
    return built


def _failing(error: Exception) -> Any:
    def behaviour(request: Any, context: Any) -> NoReturn:
        raise error

    return grpc.unary_unary_rpc_method_handler(behaviour)


def test_layers_wrap_in_order_and_once_per_method() -> None:
    inner, outer = Tagging("inner"), Tagging("outer")
    chain = Chain(outer, inner)
    handler = grpc.unary_unary_rpc_method_handler(lambda request, context: request)
    first, again = _through(chain, handler), _through(chain, handler)
    assert first is again and (inner.built, outer.built) == (1, 1)
    assert first.unary_unary("q", Context()) == "q<inner<outer"


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (
            BadRequestError("principal is required"),
            (grpc.StatusCode.INVALID_ARGUMENT, "bad_request: principal is required"),
        ),
        (
            OverloadedError("full", code="overloaded"),
            (grpc.StatusCode.RESOURCE_EXHAUSTED, "overloaded: full"),
        ),
        (KeyError("secret"), (grpc.StatusCode.INTERNAL, "internal: KeyError")),
    ],
    ids=["domain", "overloaded", "unexpected"],
)
def test_recovery_answers_with_the_mapped_status(error: Exception, status: tuple[Any, str]) -> None:
    context = Context()
    with pytest.raises(Aborted):
        _through(Chain(), _failing(error)).unary_unary("q", context)
    assert context.aborted == status


def test_an_unexpected_error_is_logged_with_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="meshgate.server"), pytest.raises(Aborted):
        _through(Chain(), _failing(KeyError("secret"))).unary_unary("q", Context())
    (record,) = caplog.records
    assert record.getMessage() == f"{UNARY} failed" and record.exc_info is not None


def test_a_status_the_handler_set_stands() -> None:
    context = Context(grpc.StatusCode.UNIMPLEMENTED)  # as the generated base servicer: set_code, then raise
    with pytest.raises(NotImplementedError):
        _through(Chain(), _failing(NotImplementedError("Method not implemented!"))).unary_unary("q", context)
    assert context.aborted is None


def _stream(request: Any, context: Any) -> Iterator[str]:
    yield "first"
    raise OverloadedError("every slot is taken", code="overloaded")


def test_streams_are_recovered_only_where_asked() -> None:
    handler = grpc.unary_stream_rpc_method_handler(_stream)
    assert _through(Chain(), handler).unary_stream is _stream
    context = Context()
    answers = _through(Chain(streams=True), handler).unary_stream("q", context)
    assert next(answers) == "first"
    with pytest.raises(Aborted):
        next(answers)
    assert context.aborted == (grpc.StatusCode.RESOURCE_EXHAUSTED, "overloaded: every slot is taken")


def test_admission_picks_the_handler_as_each_call_arrives() -> None:
    class Gate:
        open = True

        def entrance(self, method: str, handler: Any) -> Any:
            refusal = grpc.unary_unary_rpc_method_handler(lambda request, context: "refused")
            return lambda: handler if self.open else refusal

    gate = Gate()
    chain = Chain(Tagging("layer"), admission=gate)
    handler = grpc.unary_unary_rpc_method_handler(lambda request, context: request)
    assert _through(chain, handler).unary_unary("q", Context()) == "q<layer"
    gate.open = False
    assert _through(chain, handler).unary_unary("q", Context()) == "refused"
