"""Every shape the service puts on a wire or in a record, in one place:

* the gRPC messages <-> the domain values (requests in, identities and decisions out);
* the JSON of a decision (with the subjects that made it) and of who-can's grantees, for HTTP
  (`/v1/explain`, `/v1/who-can`) and the CLI (`meshgate check --json`, `meshgate who-can --json`): one
  shape for both;
* the audit records of one call, built from its messages (`audit.log` writes them): who, with which kind
  of credential, what, where, the answer and why (rule, reason code, policy revision and the git commit it
  was loaded at), and where the call came from (broker id, request id, peer address).

What never goes in a record or an answer: a token, a certificate, a key or any other credential bytes; only
the *kind* of credential presented. The credential kind of an `authorize` record is the one the broker plugin
names for the connection (what Authenticate answered for it, checked by `check_credential_kind` against the
auth method and the principal before the question is decided), else `role` for a plain Pulsar role and
`unknown` otherwise (`kinds.unverified_kind`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from meshgate.audit.events import Record
from meshgate.errors import BadRequestError
from meshgate.model import AccessRequest, CredentialInput, Decision, Delegation, Identity, PeerInfo, Resource
from meshgate.policy.explain import Explanation
from meshgate.policy.whocan import Grantee
from meshgate.principal.kinds import claimed_kind_problem, unverified_kind
from meshgate.v1 import meshgate_pb2 as pb


def credential_from_pb(msg: pb.Credential) -> CredentialInput | None:
    kind = msg.WhichOneof("kind")
    if kind == "certificate_chain":
        if not msg.certificate_chain.der:
            raise BadRequestError("certificate_chain has no certificates", code="bad_request")
        return CredentialInput(cert_chain=tuple(msg.certificate_chain.der))
    if kind == "token":
        return CredentialInput(token=msg.token)
    if kind == "l5d_client_id":
        return CredentialInput(l5d_client_id=msg.l5d_client_id)
    return None


def peer_from_pb(msg: pb.Peer) -> PeerInfo:
    return PeerInfo(address=msg.address, auth_method=msg.auth_method, transport=msg.transport)


def identity_to_pb(identity: Identity) -> pb.AuthenticateResponse:
    expires = int(identity.expires_at.timestamp() * 1000) if identity.expires_at else 0
    answer = pb.Identity(
        principal=identity.principal,
        credential_kind=identity.kind.value,
        expires_at_unix_ms=expires,
        issuer=identity.issuer,
    )
    if identity.delegation is not None:
        _set_delegation(answer.delegation, identity.delegation)
    return pb.AuthenticateResponse(identity=answer)


def _set_delegation(msg: pb.Delegation, delegation: Delegation) -> None:
    msg.subject = delegation.subject
    msg.actors.extend(delegation.actors)


def rejection_to_pb(code: str, reason: str) -> pb.AuthenticateResponse:
    return pb.AuthenticateResponse(rejection=pb.Rejection(code=code, reason=reason))


def _voucher(msg: pb.AuthorizeRequest, caller: Identity | None) -> Identity | None:
    """Claims only count when the credential authenticates to the very principal asked about."""
    return caller if caller is not None and caller.principal == msg.principal else None


def access_request_from_pb(msg: pb.AuthorizeRequest, caller: Identity | None) -> AccessRequest:
    if not msg.principal:
        raise BadRequestError("principal is required")
    if not msg.action:
        raise BadRequestError("action is required")
    r = msg.resource
    resource = Resource(r.tenant, r.namespace, r.topic, r.cluster, r.broker)
    vouched = _voucher(msg, caller)
    return AccessRequest(
        principal=msg.principal,
        action=msg.action,
        resource=resource,
        subscription=msg.subscription,
        issuer=vouched.issuer if vouched else "",
        attributes=vouched.attributes if vouched else {},
    )


def delegation_for(msg: pb.AuthorizeRequest, caller: Identity | None) -> Delegation | None:
    """The delegation chain the decision of `msg` is made for: the vouched caller's, if delegated."""
    vouched = _voucher(msg, caller)
    return vouched.delegation if vouched is not None else None


DecisionKey = tuple[object, ...]


def credential_kind_problem(request: pb.AuthorizeRequest) -> str | None:
    """Why the `credential_kind` the broker plugin names cannot have proved the request's principal on its
    auth method, or None (also when it names none)."""
    if not request.credential_kind:
        return None
    return claimed_kind_problem(request.credential_kind, request.peer.auth_method, request.principal)


def check_credential_kind(msg: pb.AuthorizeRequest) -> None:
    """The audit-only `credential_kind` must fit `peer.auth_method` and `principal`; it never changes a
    decision, so `decision_key` leaves it out."""
    problem = credential_kind_problem(msg)
    if problem is not None:
        raise BadRequestError(f"credential_kind: {problem}")


def decision_key(msg: pb.AuthorizeRequest, caller: Identity | None) -> DecisionKey:
    """Every input of `access_request_from_pb(msg, caller)`, hashable: equal keys give equal AccessRequests.

    The decision memo is keyed on it, so it must grow with `AccessRequest` (a unit test checks the fields).
    """
    r = msg.resource
    vouched = _voucher(msg, caller)
    claims = (vouched.issuer, tuple(sorted(vouched.attributes.items()))) if vouched else None
    resource = (r.tenant, r.namespace, r.topic, r.cluster, r.broker)
    return msg.principal, msg.action, resource, msg.subscription, claims


def decision_to_pb(decision: Decision, commit: str = "", delegation: Delegation | None = None) -> pb.Decision:
    """`commit`: the git commit of the snapshot that decided (a label; the revision identifies it);
    `delegation`: the chain of the caller it was decided for (`delegation_for`)."""
    answer = pb.Decision(
        allowed=decision.allowed,
        rule_id=decision.rule_id,
        reason_code=decision.reason_code,
        reason=decision.reason,
        revision=decision.revision,
        any_subscription=decision.any_subscription,
        commit=commit,
    )
    if delegation is not None:
        _set_delegation(answer.delegation, delegation)
    if decision.shadow:  # rare: no list to build for the usual decision
        answer.shadow.extend(
            pb.ShadowEffect(rule_id=s.rule_id, would_allow=s.would_allow) for s in decision.shadow
        )
    return answer


# --- JSON: HTTP and CLI ----------------------------------------------------------------------------------


def decision_json(explained: Explanation, commit: str = "") -> dict[str, Any]:
    """A decision as `/v1/explain` and `meshgate check --output json` answer it, with the subject of each
    rule it names (`meshgate.policy.explain`)."""
    decision = explained.decision
    shadow = zip(decision.shadow, explained.shadow_subjects, strict=True)
    return {
        "allowed": decision.allowed,
        "rule_id": decision.rule_id,
        "subject": explained.subject,
        "reason_code": decision.reason_code,
        "reason": decision.reason,
        "revision": decision.revision,
        "commit": commit,
        "shadow": [
            {"rule_id": s.rule_id, "subject": subject, "would_allow": s.would_allow} for s, subject in shadow
        ],
    }


def grantee_json(grantee: Grantee) -> dict[str, Any]:
    return {
        "subject": grantee.subject,
        "effect": grantee.effect,
        "rule_id": grantee.rule_id,
        "audit": grantee.audit,
        "condition": grantee.condition,
    }


# --- audit records ---------------------------------------------------------------------------------------

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


def _delegation_json(msg: pb.Delegation) -> dict[str, Any]:
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
        "credential_kind": request.credential_kind or unverified_kind(request.principal),
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
        record["delegation"] = _delegation_json(decision.delegation)
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
            record["delegation"] = _delegation_json(identity.delegation)
    else:
        record.update(result="rejected", code=response.rejection.code or "no_result")
    return record
