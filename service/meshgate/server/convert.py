"""Conversions between the wire messages and the domain value objects."""

from __future__ import annotations

from dataclasses import dataclass

from meshgate.errors import BadRequestError
from meshgate.model import AccessRequest, Decision, Delegation, Identity, Resource
from meshgate.v1 import meshgate_pb2 as pb


@dataclass(frozen=True, slots=True)
class CredentialInput:
    """Exactly one credential, as presented by the caller."""

    cert_chain: tuple[bytes, ...] = ()
    token: str = ""
    l5d_client_id: str = ""


@dataclass(frozen=True, slots=True)
class PeerInfo:
    address: str = ""
    auth_method: str = ""
    transport: str = ""


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
