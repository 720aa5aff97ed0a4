"""Audit records built from the wire messages of one call. Pure: no I/O, the time is passed in.

What goes in: who, with which kind of credential, what, where, the answer and why (rule, reason code,
policy revision and the git commit it was loaded at), and where the call came from (broker id, request
id, peer address). What never goes in: a token, a certificate, a key or any other credential bytes;
only the *kind* of credential presented.

A call by an agent acting on behalf of someone (a delegated token) also carries the whole chain,
`delegation: {subject, actors}`: the person, and every actor, the caller first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from meshgate.v1 import meshgate_pb2 as pb

Record = dict[str, Any]

_RESOURCE_FIELDS = ("tenant", "namespace", "topic", "cluster", "broker")


def credential_kind(credential: pb.Credential) -> str:
    """Which credential was attached (`certificate_chain`, `token`, `l5d_client_id`), "" for none."""
    return credential.WhichOneof("kind") or ""


def _resource(msg: pb.Resource) -> dict[str, str]:
    out = {}
    for name in _RESOURCE_FIELDS:
        value = getattr(msg, name)
        if value:
            out[name] = value
    return out


def delegation(msg: pb.Delegation) -> dict[str, Any]:
    """The `delegation` field of a record: who the call was for, and who acted, the caller first."""
    return {"subject": msg.subject, "actors": list(msg.actors)}


def timestamp(at: datetime) -> str:
    """The `time` field of a record; compute it once for the records of one call."""
    return at.isoformat(timespec="milliseconds")


def decision_record(at: datetime | str, request: pb.AuthorizeRequest, decision: pb.Decision) -> Record:
    """`at` is the time, or its `timestamp(at)` when several records share it."""
    record: Record = {
        "time": at if isinstance(at, str) else timestamp(at),
        "event": "authorize",
        "principal": request.principal,
        "credential_kind": credential_kind(request.credential),
        "action": request.action,
        "resource": _resource(request.resource),
        "decision": "allow" if decision.allowed else "deny",
        "rule_id": decision.rule_id,
        "reason_code": decision.reason_code,
        "revision": decision.revision,
        "broker_id": request.broker_id,
        "request_id": request.request_id,
        "peer": request.peer.address,
    }
    if decision.commit:
        record["commit"] = decision.commit
    if request.subscription:
        record["subscription"] = request.subscription
    if request.prefetch:  # asked ahead by the broker plugin to fill its cache: not an attempt (yet)
        record["prefetch"] = True
    if decision.shadow:
        record["shadow"] = [{"rule_id": s.rule_id, "would_allow": s.would_allow} for s in decision.shadow]
    if decision.HasField("delegation"):
        record["delegation"] = delegation(decision.delegation)
    return record


def authentication_record(
    at: datetime | str, request: pb.AuthenticateRequest, response: pb.AuthenticateResponse
) -> Record:
    """`at` is the time, or its `timestamp(at)` when several records share it."""
    record: Record = {
        "time": at if isinstance(at, str) else timestamp(at),
        "event": "authenticate",
        "presented": credential_kind(request.credential),
        "request_id": request.request_id,
        "peer": request.peer.address,
        "auth_method": request.peer.auth_method,
    }
    if response.WhichOneof("result") == "identity":
        identity = response.identity
        record.update(
            result="authenticated",
            principal=identity.principal,
            credential_kind=identity.credential_kind,
            issuer=identity.issuer,
        )
        if identity.HasField("delegation"):
            record["delegation"] = delegation(identity.delegation)
    else:
        record.update(result="rejected", code=response.rejection.code or "no_result")
    return record


def is_denial(record: Record) -> bool:
    """Denials and rejections are always written; only allows and successful logins may be sampled."""
    return record.get("decision") == "deny" or record.get("result") == "rejected"
