"""gRPC servicers: decode, call the domain, encode. They raise domain errors only: the interceptor chain's
recovery (`chain.py`) answers them with the status `status.py` maps them to.

Synchronous: each call runs in a worker thread of the gRPC server's pool (see `app.start_grpc`)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Protocol

import grpc

from meshgate.audit.log import AuditLog
from meshgate.errors import AuthenticationError, BadRequestError
from meshgate.model import AccessRequest, Decision, Identity
from meshgate.server import wire
from meshgate.server.authn import Authenticator
from meshgate.server.decision_memo import DecisionMemo
from meshgate.server.revision_feed import RevisionFeed, watch_client
from meshgate.server.served import ServedLog
from meshgate.v1 import meshgate_pb2 as pb
from meshgate.v1 import meshgate_pb2_grpc as pb_grpc

log = logging.getLogger("meshgate.server")
Context = grpc.ServicerContext


class PolicySnapshotLike(Protocol):
    @property
    def revision(self) -> str: ...
    @property
    def commit(self) -> str: ...

    def decide(self, request: AccessRequest) -> Decision: ...


class PolicySource(Protocol):
    """The active policy snapshot (`policy.PolicyStore`); nothing here may turn its error into an allow."""

    def current(self) -> PolicySnapshotLike: ...


def _budget(context: Context) -> float | None:
    """How long a credential check may wait (a JWKS refetch): the call's remaining deadline."""
    return context.time_remaining()


class AuthenticationServicer(pb_grpc.AuthenticationServicer):
    def __init__(self, authenticator: Authenticator) -> None:
        self._authenticator = authenticator

    def Authenticate(self, request: pb.AuthenticateRequest, context: Context) -> pb.AuthenticateResponse:
        return self._authenticate(request, _budget(context))

    def AuthenticateBatch(
        self, request: pb.AuthenticateBatchRequest, context: Context
    ) -> pb.AuthenticateBatchResponse:
        return self._authenticate_all(request.requests, context)

    def _authenticate_all(
        self, items: Sequence[pb.AuthenticateRequest], context: Context
    ) -> pb.AuthenticateBatchResponse:
        """Each item answered as `Authenticate` would, in order. A malformed item is answered with its own
        `bad_request` rejection instead of failing the call: the items come from unrelated connections."""
        answers = []
        for item in items:
            try:
                answers.append(self._authenticate(item, _budget(context)))
            except BadRequestError as malformed:
                answers.append(wire.rejection_to_pb(malformed.code, malformed.message))
        return pb.AuthenticateBatchResponse(responses=answers)

    def _authenticate(self, request: pb.AuthenticateRequest, budget: float | None) -> pb.AuthenticateResponse:
        credential = wire.credential_from_pb(request.credential)
        peer = wire.peer_from_pb(request.peer)
        if credential is None:
            return wire.rejection_to_pb("no_credential", "the request carries no credential")
        try:
            identity = self._authenticator.authenticate(credential, peer, budget)
        except AuthenticationError as rejected:
            log.info("authentication rejected: %s (peer %r)", rejected, peer.address)
            return wire.rejection_to_pb(rejected.code, rejected.message)
        return wire.identity_to_pb(identity)


class AuthorizationServicer(pb_grpc.AuthorizationServicer):
    """Decides every item of a call against one policy snapshot, in one synchronous loop.

    Answers are memoized per snapshot (`DecisionMemo`): a repeated question is a dict hit, a new snapshot
    starts empty, and an error is never stored. Only items that carry a credential wait for its verification.
    `ReportServed` hands the answers the broker plugin served itself to `served` (the audit log).
    """

    def __init__(
        self,
        policies: PolicySource,
        authenticator: Authenticator,
        revisions: RevisionFeed,
        memo: DecisionMemo[Decision] | None = None,
        served: ServedLog | None = None,
    ) -> None:
        self._policies = policies
        self._authenticator = authenticator
        self._revisions = revisions
        self._memo: DecisionMemo[Decision] = memo if memo is not None else DecisionMemo()
        self._served = served if served is not None else ServedLog(AuditLog(()))

    def Authorize(self, request: pb.AuthorizeRequest, context: Context) -> pb.AuthorizeResponse:
        caller = self._caller(request, _budget(context)) if request.HasField("credential") else None
        return pb.AuthorizeResponse(decision=self._decide_all((request,), {0: caller})[0])

    def AuthorizeBatch(
        self, request: pb.AuthorizeBatchRequest, context: Context
    ) -> pb.AuthorizeBatchResponse:
        items = request.requests
        callers = self._callers(items, context)
        return pb.AuthorizeBatchResponse(decisions=self._decide_all(items, callers))

    def ReportServed(self, request: pb.ReportServedRequest, context: Context) -> pb.ReportServedResponse:
        return pb.ReportServedResponse(recorded=self._served.record(request))

    def WatchRevision(self, request: pb.WatchRevisionRequest, context: Context) -> Iterator[pb.RevisionEvent]:
        """Holds a worker thread while open; `RevisionFeed` bounds how many streams may, per client (over the
        bound: `OverloadedError`)."""
        client = watch_client(context.peer(), context.peer_identities())
        for revision, commit, activated_at in self._revisions.follow(context.is_active, client):
            yield pb.RevisionEvent(
                revision=revision, activated_at_unix_ms=int(activated_at * 1000), commit=commit
            )

    def _decide_all(
        self, items: Sequence[pb.AuthorizeRequest], callers: Mapping[int, Identity | None]
    ) -> list[pb.Decision]:
        """One snapshot for the whole call; `callers`: the verified identity of items with a credential."""
        snapshot = self._policies.current()
        table = self._memo.table_for(snapshot)
        answers = []
        for i, item in enumerate(items):
            caller = callers.get(i) if callers else None
            wire.check_credential_kind(item)  # audit-only, never in the key: checked on every item
            key = wire.decision_key(item, caller)
            decision = table.get(key)
            if decision is None:
                access = wire.access_request_from_pb(item, caller)  # raises on a bad item: nothing stored
                decision = snapshot.decide(access)
                table.put(key, decision)
            delegation = wire.delegation_for(item, caller) if caller is not None else None
            answers.append(wire.decision_to_pb(decision, snapshot.commit, delegation))
        return answers

    def _callers(self, items: Sequence[pb.AuthorizeRequest], context: Context) -> dict[int, Identity | None]:
        """The identity of each item with a credential; each distinct credential and peer is verified once
        (the broker plugin's lookup batch carries the connection's credential on every item)."""
        callers: dict[int, Identity | None] = {}
        verified: dict[tuple[bytes, bytes], Identity | None] = {}
        for i, item in enumerate(items):
            if item.HasField("credential"):
                seen = (item.credential.SerializeToString(), item.peer.SerializeToString())
                if seen not in verified:
                    verified[seen] = self._caller(item, _budget(context))
                callers[i] = verified[seen]
        return callers

    def _caller(self, request: pb.AuthorizeRequest, budget: float | None) -> Identity | None:
        """The identity behind the attached credential, for its claims; None when absent or invalid."""
        credential = wire.credential_from_pb(request.credential)
        if credential is None:
            return None
        try:
            return self._authenticator.authenticate(credential, wire.peer_from_pb(request.peer), budget)
        except AuthenticationError:
            return None
