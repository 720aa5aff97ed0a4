"""Observing, the chain's layer for metrics, audit and logging of every unary call (`chain.py`).

Order inside a call: run the handler; the RPC is timed and counted (metrics) with the status the chain's
recovery answers when something escaped the handler (`status.outcome`); then the decisions are counted
(one metrics update per call, however many decisions it carried) and each decision the audit log will
write (every deny, the allows sampling keeps) gets its record built from the request and the response; an
authentication gets its record the same way. The records of one call share its time (taken once) and are
handed to the audit log together (one offer per sink, never blocking); the call is logged at DEBUG.
Observing never fails a call: an error there is logged and the answer goes out unchanged.

Synchronous (`grpc.server`): the wrapper runs in the call's worker thread; the metrics and the audit log
are safe to share between threads.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import grpc

from meshgate.audit.log import AuditLog
from meshgate.clock import Clock
from meshgate.server.chain import Behaviour, Layer, short_name
from meshgate.server.metrics import AuthenticationLabels, DecisionLabels, EventMetrics, authentication_labels
from meshgate.server.status import outcome
from meshgate.server.wire import authentication_record, decision_record, timestamp
from meshgate.v1 import meshgate_pb2 as pb

log = logging.getLogger("meshgate.calls")
Decided = Iterable[tuple[pb.AuthorizeRequest, pb.Decision]]
Authenticated = Iterable[tuple[pb.AuthenticateRequest, pb.AuthenticateResponse]]


def _authorize(request: pb.AuthorizeRequest, response: pb.AuthorizeResponse) -> Decided:
    return ((request, response.decision),)


def _authorize_batch(request: pb.AuthorizeBatchRequest, response: pb.AuthorizeBatchResponse) -> Decided:
    return zip(request.requests, response.decisions, strict=False)


AUTHORIZE_BATCH = "/meshgate.v1.Authorization/AuthorizeBatch"
DECISIONS: dict[str, Callable[[Any, Any], Decided]] = {
    "/meshgate.v1.Authorization/Authorize": _authorize,
    AUTHORIZE_BATCH: _authorize_batch,
}
AUTHENTICATE = "/meshgate.v1.Authentication/Authenticate"
AUTHENTICATE_BATCH = "/meshgate.v1.Authentication/AuthenticateBatch"


class ObservingInterceptor(Layer):
    def __init__(self, metrics: EventMetrics, audit: AuditLog, clock: Clock) -> None:
        self._metrics = metrics
        self._audit = audit
        self._clock = clock

    def wrap(self, method: str, behaviour: Behaviour) -> Behaviour:
        label = short_name(method)
        observe = self._observer(method)

        def call(request: Any, context: grpc.ServicerContext) -> Any:
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            try:
                response = behaviour(request, context)
            except Exception as error:
                code = outcome(context, error)[0]
                raise
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
