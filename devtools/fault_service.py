"""A stand-in meshgate service on 127.0.0.1 for fault experiments through a real broker.

It authenticates every token as the principal the token names (a certificate chain as the broker's own
identity) and answers each action the way a run sets it: allow, deny, `slow` (holds the call until the
caller gives up, so the shim sees DEADLINE_EXCEEDED), `busy` (RESOURCE_EXHAUSTED at once, as an overloaded
service answers), or `down` (the whole server stops, so the shim cannot reach it: `stop()`/`start()`).
Connects obey the mode of the pseudo-action `authenticate` (deny: a rejection).

It counts the questions per action, so a run can tell whether a client asked again (retried). It sends
no revision on WatchRevision, so the shim neither caches nor shares answers: every question reaches it.
The answers the shim reports it served itself (`ReportServed`) are kept in `served`.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import grpc
from meshgate.v1 import meshgate_pb2 as pb
from meshgate.v1 import meshgate_pb2_grpc as pb_grpc

from devtools.ports import free_port

ALLOW, DENY, SLOW, BUSY = "allow", "deny", "slow", "busy"
AUTHENTICATE = "authenticate"  # the pseudo-action whose mode connects obey (deny: a rejection)
HOLD_SECONDS = 30.0  # a `slow` answer is held at most this long (the shim's deadline ends it far sooner)


class FaultService(pb_grpc.AuthenticationServicer, pb_grpc.AuthorizationServicer):
    def __init__(self, broker_principal: str, port: int | None = None) -> None:
        self.broker_principal = broker_principal
        self.port = port or free_port()
        self.modes: dict[str, str] = {}  # action -> mode; unlisted actions are allowed
        self.asked: Counter[str] = Counter()
        self.served: list[pb.ServedDecision] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: grpc.Server | None = None

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self._stopping.clear()
        server = grpc.server(ThreadPoolExecutor(max_workers=32))
        pb_grpc.add_AuthenticationServicer_to_server(self, server)
        pb_grpc.add_AuthorizationServicer_to_server(self, server)
        server.add_insecure_port(self.target)
        server.start()
        self._server = server

    def stop(self) -> None:
        """Down: the port is closed; held calls and revision streams end."""
        self._stopping.set()
        if self._server is not None:
            self._server.stop(0).wait(5)
            self._server = None

    def set(self, action: str, mode: str) -> None:
        with self._lock:
            self.modes[action] = mode

    def reset(self) -> None:
        with self._lock:
            self.modes.clear()
            self.asked.clear()

    def count(self, action: str) -> int:
        with self._lock:
            return self.asked[action]

    # --- Authentication ---

    def Authenticate(
        self, request: pb.AuthenticateRequest, context: grpc.ServicerContext
    ) -> pb.AuthenticateResponse:
        batch = self.AuthenticateBatch(pb.AuthenticateBatchRequest(requests=[request]), context)
        return batch.responses[0]

    def AuthenticateBatch(
        self, request: pb.AuthenticateBatchRequest, context: grpc.ServicerContext
    ) -> pb.AuthenticateBatchResponse:
        """Tokens only obey the `authenticate` mode: the broker's own certificate always passes."""
        tokens = [r for r in request.requests if r.credential.WhichOneof("kind") == "token"]
        self._obey(context, [self._ask(AUTHENTICATE) for _ in tokens])
        mode = self.modes.get(AUTHENTICATE, ALLOW)
        return pb.AuthenticateBatchResponse(
            responses=[self._identify(r.credential, mode) for r in request.requests]
        )

    def _identify(self, credential: pb.Credential, mode: str) -> pb.AuthenticateResponse:
        if credential.WhichOneof("kind") != "token":
            identity = pb.Identity(principal=self.broker_principal, credential_kind="x509_svid")
            return pb.AuthenticateResponse(identity=identity)
        if mode == DENY:
            return pb.AuthenticateResponse(
                rejection=pb.Rejection(code="bad_signature", reason="fault service")
            )
        return pb.AuthenticateResponse(
            identity=pb.Identity(principal=credential.token, credential_kind="k8s_sa_token")
        )

    # --- Authorization ---

    def AuthorizeBatch(
        self, request: pb.AuthorizeBatchRequest, context: grpc.ServicerContext
    ) -> pb.AuthorizeBatchResponse:
        modes = [self._ask(r.action) for r in request.requests]
        self._obey(context, modes)
        return pb.AuthorizeBatchResponse(
            decisions=[
                pb.Decision(allowed=mode == ALLOW, reason_code="policy" if mode == ALLOW else "no_rule")
                for mode in modes
            ]
        )

    def _ask(self, action: str) -> str:
        with self._lock:
            self.asked[action] += 1
            return self.modes.get(action, ALLOW)

    def _obey(self, context: grpc.ServicerContext, modes: list[str]) -> None:
        """`slow`: hold until the caller gives up; `busy`: RESOURCE_EXHAUSTED now."""
        if SLOW in modes:
            self._hold(context)
            context.abort(grpc.StatusCode.UNAVAILABLE, "fault service: held too long")
        if BUSY in modes:
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "fault service: busy")

    def _hold(self, context: grpc.ServicerContext, seconds: float = HOLD_SECONDS) -> None:
        steps = int(seconds / 0.05)
        for _ in range(steps):
            if not context.is_active() or self._stopping.wait(0.05):
                return

    def Authorize(self, request: pb.AuthorizeRequest, context: grpc.ServicerContext) -> pb.AuthorizeResponse:
        batch = self.AuthorizeBatch(pb.AuthorizeBatchRequest(requests=[request]), context)
        return pb.AuthorizeResponse(decision=batch.decisions[0])

    def ReportServed(
        self, request: pb.ReportServedRequest, context: grpc.ServicerContext
    ) -> pb.ReportServedResponse:
        with self._lock:
            self.served.extend(request.entries)
        return pb.ReportServedResponse(recorded=len(request.entries))

    def WatchRevision(
        self, request: pb.WatchRevisionRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.RevisionEvent]:
        self._hold(context, HOLD_SECONDS * 20)  # no revision: the shim caches and shares nothing
        yield from ()


@contextmanager
def fault_service(broker_principal: str) -> Iterator[FaultService]:
    service = FaultService(broker_principal)
    service.start()
    try:
        yield service
    finally:
        service.stop()
