"""gRPC servicers: decode, call the domain, encode. Errors map to status in `status.py` only."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import NoReturn, TypeVar

import grpc

from meshgate.authn import Authenticator
from meshgate.authz import Authorizer
from meshgate.decision_memo import DecisionMemo
from meshgate.errors import AuthenticationError, BadRequestError
from meshgate.model import Decision, Identity
from meshgate.server import convert
from meshgate.server.status import status_for
from meshgate.v1 import meshgate_pb2 as pb
from meshgate.v1 import meshgate_pb2_grpc as pb_grpc

log = logging.getLogger("meshgate.server")
_R = TypeVar("_R")


async def _guarded(
    context: grpc.aio.ServicerContext[object, object], call: Callable[[], Awaitable[_R]]
) -> _R:
    try:
        return await call()
    except Exception as error:  # asyncio.CancelledError is not an Exception: it passes through
        await _fail(context, error)


async def _fail(context: grpc.aio.ServicerContext[object, object], error: Exception) -> NoReturn:
    """Answer the status `status.py` maps `error` to; abort raises, so this never returns."""
    code, detail = status_for(error)
    if code == grpc.StatusCode.INTERNAL:
        log.error("request failed", exc_info=error)
    await context.abort(code, detail)
    raise AssertionError("unreachable: abort raises") from error


class AuthenticationServicer(pb_grpc.AuthenticationServicer):
    def __init__(self, authenticator: Authenticator) -> None:
        self._authenticator = authenticator

    async def Authenticate(
        self, request: pb.AuthenticateRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> pb.AuthenticateResponse:
        return await _guarded(context, lambda: self._authenticate(request))

    async def AuthenticateBatch(
        self, request: pb.AuthenticateBatchRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> pb.AuthenticateBatchResponse:
        return await _guarded(context, lambda: self._authenticate_all(request.requests))

    async def _authenticate_all(
        self, items: Sequence[pb.AuthenticateRequest]
    ) -> pb.AuthenticateBatchResponse:
        """Each item answered as `Authenticate` would, in order. A malformed item is answered with its own
        `bad_request` rejection instead of failing the call: the items come from unrelated connections."""
        answers = []
        for item in items:
            try:
                answers.append(await self._authenticate(item))
            except BadRequestError as malformed:
                answers.append(convert.rejection_to_pb(malformed.code, malformed.message))
        return pb.AuthenticateBatchResponse(responses=answers)

    async def _authenticate(self, request: pb.AuthenticateRequest) -> pb.AuthenticateResponse:
        credential = convert.credential_from_pb(request.credential)
        peer = convert.peer_from_pb(request.peer)
        if credential is None:
            return convert.rejection_to_pb("no_credential", "the request carries no credential")
        try:
            identity = await self._authenticator.authenticate(credential, peer)
        except AuthenticationError as rejected:
            log.info("authentication rejected: %s (peer %s)", rejected, peer.address)
            return convert.rejection_to_pb(rejected.code, rejected.message)
        return convert.identity_to_pb(identity)


class AuthorizationServicer(pb_grpc.AuthorizationServicer):
    """Decides every item of a call against one policy snapshot, in one synchronous loop.

    Answers are memoized per snapshot (`DecisionMemo`): a repeated question is a dict hit, a new snapshot
    starts empty, and an error is never stored. Only items that carry a credential await its verification.
    """

    def __init__(
        self,
        authorizer: Authorizer,
        authenticator: Authenticator,
        revisions: RevisionFeed,
        memo: DecisionMemo[Decision] | None = None,
    ) -> None:
        self._authorizer = authorizer
        self._authenticator = authenticator
        self._revisions = revisions
        self._memo: DecisionMemo[Decision] = memo if memo is not None else DecisionMemo()

    async def Authorize(
        self, request: pb.AuthorizeRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> pb.AuthorizeResponse:
        try:
            caller = await self._caller(request) if request.HasField("credential") else None
            return pb.AuthorizeResponse(decision=self._decide_all((request,), {0: caller})[0])
        except Exception as error:
            await _fail(context, error)

    async def AuthorizeBatch(
        self, request: pb.AuthorizeBatchRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> pb.AuthorizeBatchResponse:
        try:
            items = request.requests
            return pb.AuthorizeBatchResponse(decisions=self._decide_all(items, await self._callers(items)))
        except Exception as error:
            await _fail(context, error)

    async def WatchRevision(
        self, request: pb.WatchRevisionRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> AsyncIterator[pb.RevisionEvent]:
        async for revision, activated_at in self._revisions.follow():
            yield pb.RevisionEvent(revision=revision, activated_at_unix_ms=int(activated_at * 1000))

    def _decide_all(
        self, items: Sequence[pb.AuthorizeRequest], callers: Mapping[int, Identity | None]
    ) -> list[pb.Decision]:
        """One snapshot for the whole call; `callers`: the verified identity of items with a credential."""
        snapshot = self._authorizer.snapshot()
        table = self._memo.table_for(snapshot)
        answers = []
        for i, item in enumerate(items):
            caller = callers.get(i) if callers else None
            key = convert.decision_key(item, caller)
            decision = table.get(key)
            if decision is None:
                access = convert.access_request_from_pb(item, caller)  # raises on a bad item: nothing stored
                decision = snapshot.decide(access)
                table.put(key, decision)
            answers.append(convert.decision_to_pb(decision))
        return answers

    async def _callers(self, items: Sequence[pb.AuthorizeRequest]) -> dict[int, Identity | None]:
        """The identity of each item with a credential; each distinct credential and peer is verified once
        (the broker plugin's lookup batch carries the connection's credential on every item)."""
        callers: dict[int, Identity | None] = {}
        verified: dict[tuple[bytes, bytes], Identity | None] = {}
        for i, item in enumerate(items):
            if item.HasField("credential"):
                seen = (item.credential.SerializeToString(), item.peer.SerializeToString())
                if seen not in verified:
                    verified[seen] = await self._caller(item)
                callers[i] = verified[seen]
        return callers

    async def _caller(self, request: pb.AuthorizeRequest) -> Identity | None:
        """The identity behind the attached credential, for its claims; None when absent or invalid."""
        credential = convert.credential_from_pb(request.credential)
        if credential is None:
            return None
        try:
            return await self._authenticator.authenticate(credential, convert.peer_from_pb(request.peer))
        except AuthenticationError:
            return None


class RevisionFeed:
    """Fans policy revision changes out to every WatchRevision stream."""

    def __init__(self, current: Callable[[], str]) -> None:
        self._current = current
        self._activated_at = time.time()
        self._queues: set[asyncio.Queue[tuple[str, float]]] = set()

    def publish(self, revision: str) -> None:
        """Call on the event loop whenever a new revision becomes active."""
        self._activated_at = time.time()
        for queue in self._queues:
            queue.put_nowait((revision, self._activated_at))

    async def follow(self) -> AsyncIterator[tuple[str, float]]:
        queue: asyncio.Queue[tuple[str, float]] = asyncio.Queue()
        self._queues.add(queue)
        try:
            yield self._current(), self._activated_at
            while True:
                yield await queue.get()
        finally:
            self._queues.discard(queue)
