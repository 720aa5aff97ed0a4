"""ObservingInterceptor on decisions and logins: one metrics update per call with the same counts as before,
an audit record per decision exactly as `decision_record` builds it (every deny; allows as sampling says,
and only those are built), one per login as `authentication_record` builds it, and each method's wrapper
built once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import grpc
from meshgate.audit.log import AuditLog
from meshgate.audit.sinks import QueuedSink, encode
from meshgate.clock import Clock, FixedClock
from meshgate.server.interceptors import ObservingInterceptor
from meshgate.server.metrics import ServiceMetrics
from meshgate.server.wire import authentication_record, decision_record
from meshgate.v1 import meshgate_pb2 as pb

from tests.support.audit_log import Recorder

AT = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
BATCH = "/meshgate.v1.Authorization/AuthorizeBatch"
AUTHORIZE = "/meshgate.v1.Authorization/Authorize"
ITEMS = [  # (action, allowed, reason_code)
    ("topic.produce", True, "allowed_by_rule"),
    ("topic.produce", False, "no_matching_rule"),
    ("topic.produce", True, "allowed_by_rule"),
    ("no.such.action", False, "unknown_action"),
    ("topic.consume", True, "superuser"),
]


class Details(grpc.HandlerCallDetails):
    def __init__(self, method: str) -> None:
        self.method = method
        self.invocation_metadata = ()


def _batch() -> tuple[pb.AuthorizeBatchRequest, pb.AuthorizeBatchResponse]:
    request, response = pb.AuthorizeBatchRequest(), pb.AuthorizeBatchResponse()
    for i, (action, allowed, code) in enumerate(ITEMS):
        item = request.requests.add(principal=f"p{i % 2}", action=action, request_id=f"r{i}")
        item.resource.topic = f"persistent://acme/p/t{i}"
        item.peer.address = "10.0.0.1:1"
        decision = response.decisions.add(
            allowed=allowed, rule_id="f.yaml#r", reason_code=code, revision="v1"
        )
        if i == 1:
            decision.shadow.add(rule_id="audit.yaml#a", would_allow=True)
    return request, response


def _observed(
    audit: AuditLog, metrics: ServiceMetrics, method: str, answer: Any, clock: Clock | None = None
) -> Callable[[Any], Any]:
    def behavior(request: Any, context: Any) -> Any:
        return answer

    def continuation(details: Any) -> grpc.RpcMethodHandler[Any, Any]:
        return grpc.unary_unary_rpc_method_handler(behavior)

    interceptor = ObservingInterceptor(metrics.events, audit, clock or FixedClock(AT))
    handler = interceptor.intercept_service(continuation, Details(method))
    assert handler is not None
    behaviour: Any = handler.unary_unary
    return lambda request: behaviour(request, None)


def _audited(rate: float, rng: Iterator[float], calls: Callable[[Callable[[Any], Any]], None]) -> list[str]:
    recorder = Recorder()
    audit = AuditLog([QueuedSink("t", recorder, capacity=100)], allow_sample_rate=rate, rng=lambda: next(rng))
    calls(_observed(audit, ServiceMetrics(), BATCH, _batch()[1]))
    audit.close()
    return recorder.lines


def _expected(keep: Callable[[int], bool]) -> list[str]:
    request, response = _batch()
    pairs = zip(request.requests, response.decisions, strict=True)
    return [encode(decision_record(AT, r, d)) for i, (r, d) in enumerate(pairs) if keep(i)]


def test_every_decision_of_a_batch_is_audited_as_decision_record_builds_it() -> None:
    request, _ = _batch()
    assert _audited(1.0, iter(()), lambda call: call(request)) == _expected(lambda i: True)


def test_sampling_leaves_out_allows_only_and_asks_once_per_allow() -> None:
    request, _ = _batch()
    draws = iter([0.9, 0.1, 0.2])  # the three allows, in order: left out, kept, kept
    lines = _audited(0.5, draws, lambda call: call(request))
    assert lines == _expected(lambda i: i != 0)
    assert next(draws, None) is None


def test_decisions_are_counted_once_per_label_set() -> None:
    metrics = ServiceMetrics()
    request, response = _batch()
    call = _observed(AuditLog(()), metrics, BATCH, response)
    call(request)
    call(request)

    def count(result: str, action: str, code: str) -> float | None:
        labels = {"result": result, "action": action, "reason_code": code}
        return metrics.registry.get_sample_value("meshgate_decisions_total", labels)

    assert count("allow", "topic.produce", "allowed_by_rule") == 4
    assert count("deny", "topic.produce", "no_matching_rule") == 2
    assert count("deny", "unknown", "unknown_action") == 2  # the wire's action name never becomes a label
    assert count("allow", "topic.consume", "superuser") == 2
    labels = {"method": "Authorization/AuthorizeBatch", "code": "OK"}
    assert metrics.registry.get_sample_value("meshgate_rpcs_total", labels) == 2


def test_a_single_authorize_is_audited_and_counted() -> None:
    recorder, metrics = Recorder(), ServiceMetrics()
    audit = AuditLog([QueuedSink("t", recorder, capacity=10)])
    request, response = _batch()
    item, answer = request.requests[1], pb.AuthorizeResponse(decision=response.decisions[1])
    _observed(audit, metrics, AUTHORIZE, answer)(item)
    audit.close()
    assert recorder.lines == [encode(decision_record(AT, item, answer.decision))]
    labels = {"result": "deny", "action": "topic.produce", "reason_code": "no_matching_rule"}
    assert metrics.registry.get_sample_value("meshgate_decisions_total", labels) == 1


def test_the_wrapper_is_built_once_per_method() -> None:
    def behavior(request: Any, context: Any) -> Any:
        return request

    handler = grpc.unary_unary_rpc_method_handler(behavior)

    def continuation(details: Any) -> grpc.RpcMethodHandler[Any, Any]:
        return handler

    interceptor = ObservingInterceptor(ServiceMetrics().events, AuditLog(()), FixedClock(AT))
    first, again = (interceptor.intercept_service(continuation, Details(BATCH)) for _ in range(2))
    assert first is again and first is not handler


def test_an_action_outside_the_table_is_one_label_whatever_the_answer() -> None:
    """A super-user may ask with any action string; it must not become a new label value."""
    metrics = ServiceMetrics()
    metrics.events.observe_decisions(
        {(True, "made.up.one", "superuser"): 1, (True, "made.up.two", "superuser"): 2}
    )
    labels = {"result": "allow", "action": "unknown", "reason_code": "superuser"}
    assert metrics.registry.get_sample_value("meshgate_decisions_total", labels) == 3
    assert (
        metrics.registry.get_sample_value("meshgate_decisions_total", {**labels, "action": "made.up.one"})
        is None
    )


AUTHENTICATE_BATCH = "/meshgate.v1.Authentication/AuthenticateBatch"


def _logins() -> tuple[pb.AuthenticateBatchRequest, pb.AuthenticateBatchResponse]:
    request, response = pb.AuthenticateBatchRequest(), pb.AuthenticateBatchResponse()
    for i, code in enumerate(("", "expired", "", "")):
        item = request.requests.add(request_id=f"a{i}", credential=pb.Credential(token=f"t{i}"))
        item.peer.address, item.peer.auth_method = f"10.0.0.{i}:1", "token"
        if code:
            response.responses.add(rejection=pb.Rejection(code=code, reason="r"))
        else:
            answer = response.responses.add()
            answer.identity.principal, answer.identity.credential_kind = f"spiffe://td/sa/{i}", "k8s_sa_token"
    return request, response


def test_each_login_of_a_batch_is_audited_in_order_and_counted_once_per_label_set() -> None:
    recorder, metrics = Recorder(), ServiceMetrics()
    audit = AuditLog([QueuedSink("t", recorder, capacity=100)], allow_sample_rate=0.5, rng=lambda: 0.9)
    request, response = _logins()
    call = _observed(audit, metrics, AUTHENTICATE_BATCH, response)
    call(request)
    call(request)
    audit.close()
    rejected = encode(authentication_record(AT, request.requests[1], response.responses[1]))
    assert recorder.lines == [rejected, rejected]  # sampling left out every success, never the rejection

    def count(result: str, kind: str, code: str) -> float | None:
        labels = {"result": result, "credential_kind": kind, "code": code}
        return metrics.registry.get_sample_value("meshgate_authentications_total", labels)

    assert count("authenticated", "k8s_sa_token", "") == 6
    assert count("rejected", "token", "expired") == 2


class Ticking(FixedClock):
    """Moves on a millisecond every time it is read."""

    def now(self) -> datetime:
        at = super().now()
        self.advance(0.001)
        return at


def test_the_logins_of_a_batch_are_audited_as_built_and_share_the_time_of_the_call() -> None:
    recorder = Recorder()
    audit = AuditLog([QueuedSink("t", recorder, capacity=100)])
    request, response = _logins()
    call = _observed(audit, ServiceMetrics(), AUTHENTICATE_BATCH, response, Ticking(AT))
    call(request)
    call(request)
    audit.close()
    pairs = list(zip(request.requests, response.responses, strict=True))
    later = datetime.fromtimestamp(AT.timestamp() + 0.001, UTC)
    expected = [encode(authentication_record(at, r, a)) for at in (AT, later) for r, a in pairs]
    assert recorder.lines == expected
