"""The gRPC handlers in process, without a network: byte 0 picks AuthorizeRequest, AuthenticateRequest or
AuthorizeBatchRequest, the rest is parsed as that message (wire bytes, as the server would receive them) and
handed to the real servicers, behind the interceptor chain's recovery, with a stand-in context whose `abort`
records the status.

Invariants: only MeshgateError leaves the domain (an abort is never INTERNAL); an allow names a principal
the fixed policy (fuzz/policy) or its super user grants, and agrees with the naive evaluator; an identity
comes from a chain this CA issued, or from l5d-client-id over a loopback peer.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from meshgate.identity import CachedX509Verifier, L5dClientIdAuthenticator
from meshgate.identity.l5d import is_loopback
from meshgate.model import AccessRequest, Identity, Resource
from meshgate.policy import PolicyStore, load_policy
from meshgate.principal import LinkerdNaming
from meshgate.server.authn import Authenticator
from meshgate.server.chain import recovered
from meshgate.server.revision_feed import RevisionFeed
from meshgate.server.servicer import AuthenticationServicer, AuthorizationServicer
from meshgate.v1 import meshgate_pb2 as pb

from fuzz.targets import token, x509chain
from fuzz.targets.common import ISSUED_IDS, InvariantViolation, clock
from fuzz.targets.reader import Reader
from tests.support.naive import naive_decide

POLICY_DIR = Path(__file__).resolve().parents[1] / "policy"
SUPERUSER = "spiffe://fuzz.test/ns/pulsar/sa/broker"
ALLOWED = frozenset({SUPERUSER, *ISSUED_IDS[:2]})  # writer and reader; api is issued but never granted
MAX_BATCH = 16


class Aborted(Exception):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code


class FakeContext:
    def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise Aborted(code, details)

    def time_remaining(self) -> float:
        return 5.0


class _Tokens:
    def authenticate(self, raw: str, budget: float | None = None) -> Identity:
        return token.validator().validate(raw)


@dataclass(frozen=True)
class Service:
    authn: AuthenticationServicer
    authz: AuthorizationServicer
    store: PolicyStore


@functools.cache
def service() -> Service:
    store = PolicyStore(load_policy(POLICY_DIR, superusers={SUPERUSER}))
    certs = CachedX509Verifier(x509chain.verifier(), clock(), max_entries=64)
    mesh = L5dClientIdAuthenticator(True, LinkerdNaming(trust_domain="fuzz.test"))
    authenticator = Authenticator(certificates=certs, tokens=_Tokens(), mesh_header=mesh)
    feed = RevisionFeed(lambda: (store.current().revision, store.current().commit))
    authz = AuthorizationServicer(store, authenticator, feed)
    return Service(AuthenticationServicer(authenticator), authz, store)


def target(data: bytes) -> None:
    reader = Reader(data)
    kind, wire = reader.byte() % 3, reader.rest()
    try:
        if kind == 0:
            _authorize(pb.AuthorizeRequest.FromString(wire))
        elif kind == 1:
            _authenticate(pb.AuthenticateRequest.FromString(wire))
        else:
            _batch(pb.AuthorizeBatchRequest.FromString(wire))
    except DecodeError:
        return  # the gRPC layer refuses undecodable bytes before any handler runs


def _call(method: Any, request: Any) -> Any:
    """As the server calls it: whatever escapes the servicer is answered by the chain's recovery."""
    try:
        return recovered(method.__name__, method)(request, FakeContext())  # type: ignore[arg-type]
    except Aborted as aborted:
        if aborted.code == grpc.StatusCode.INTERNAL:
            raise InvariantViolation(f"a non-meshgate error escaped: {aborted}") from aborted
        return None


def _authorize(request: pb.AuthorizeRequest) -> None:
    answer = _call(service().authz.Authorize, request)
    if answer is not None:
        _check_decision(request, answer.decision)


def _batch(batch: pb.AuthorizeBatchRequest) -> None:
    del batch.requests[MAX_BATCH:]
    answer = _call(service().authz.AuthorizeBatch, batch)
    if answer is None:
        return
    if len(answer.decisions) != len(batch.requests):
        raise InvariantViolation("a batch answer lost or invented decisions")
    for request, decision in zip(batch.requests, answer.decisions, strict=True):
        _check_decision(request, decision)


def _check_decision(request: pb.AuthorizeRequest, decision: pb.Decision) -> None:
    if not decision.allowed:
        return
    if request.principal not in ALLOWED:
        raise InvariantViolation(f"allowed {request.principal!r}, a principal the policy never grants")
    r = request.resource
    access = AccessRequest(
        request.principal, request.action, Resource(r.tenant, r.namespace, r.topic, r.cluster, r.broker),
        subscription=request.subscription,
    )  # fmt: skip
    if not naive_decide(service().store.current(), access).allowed:
        raise InvariantViolation(f"allowed {access}, which the naive evaluator denies")


def _authenticate(request: pb.AuthenticateRequest) -> None:
    answer = _call(service().authn.Authenticate, request)
    if answer is None or answer.WhichOneof("result") != "identity":
        return
    principal, kind = answer.identity.principal, answer.identity.credential_kind
    if kind == "x509_svid" and principal in ISSUED_IDS:
        return
    if kind == "l5d_header" and is_loopback(request.peer.address):
        return
    raise InvariantViolation(f"authenticated {principal!r} ({kind}) from a fuzzed credential")
