"""RFC 8693 delegation: the `act` (actor) and `may_act` claims of an SSO token. Pure, no I/O.

A token exchanged for an agent (a deploy bot, a copilot) acting on behalf of a person keeps the person in
`sub` and names the agent in `act`; an agent that exchanges such a token again nests the earlier `act`
inside its own. meshgate authenticates the caller, so for a token with `act`:

- the principal is the immediate actor (`act`), named by the issuer's principal template over the actor's
  own claims and the token's `iss`: an SSO principal like any other (`oidc:...`). It is never the person's,
  and never another kind's: the template starts with `oidc:`, so an `act.sub` spelling a SPIFFE ID stays
  inside the SSO namespace (`meshgate.principal.kinds`), and a super-user is refused as for any token.
- `Identity.delegation` holds the chain: the person's principal (the template over the token's claims) and
  every actor's, the caller first. The policy sees the actor's own exposed claims as they are, the person's
  under `subject.` and the chain as `delegation.subject` / `delegation.actors` (`meshgate.model`).

Refused, each with its `Reason`: an `act` (or nested `act`) that is not an object with a non-empty string
`sub` and, if present, a string `iss` (`malformed_delegation`); more actors than `max_depth`
(`delegation_too_deep`); a caller named by another issuer, whose `iss` is not the token's
(`delegation_not_accepted`); a `may_act` that does not name the caller (`actor_not_permitted`). Earlier
actors may name other issuers: they record who passed the token on, they are not the caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from meshgate.errors import AuthenticationError
from meshgate.model import SUBJECT_PREFIX, Delegation
from meshgate.oidc.principal import PrincipalRule, exposed_attributes
from meshgate.oidc.reasons import Reason, fail

DEFAULT_MAX_DEPTH = 4  # `oidc.max_delegation_depth`: the agent and up to three that handed it the token
MAX_DEPTH_CEILING = 16  # the highest `oidc.max_delegation_depth` accepted
_MAX_VALUE = 1024
Attributes = dict[str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class Chain:
    """What a delegated token means: who calls, the chain, and the attributes the policy sees."""

    caller: str
    delegation: Delegation
    attributes: Attributes


@dataclass(frozen=True, slots=True)
class _Actor:
    path: str  # "act", "act.act", ...: where it sits in the token, for messages
    claims: Mapping[str, Any]
    issuer: str  # its own `iss`, else the token's


def read_chain(
    payload: Mapping[str, Any],
    issuer: str,
    subject: str,
    rule: PrincipalRule,
    expose: tuple[str, ...],
    max_depth: int,
) -> Chain | None:
    """The chain of a token with `act`, None without. `subject`: the principal `rule` gives the token."""
    if "act" not in payload:
        return None
    actors = _actors(payload["act"], issuer, max_depth)
    caller = actors[0]
    if caller.issuer != issuer:
        fail(
            Reason.DELEGATION_NOT_ACCEPTED,
            f"act.iss {caller.issuer!r} is not the token's issuer: an issuer vouches only for callers it "
            "names itself (earlier actors, in a nested act, may name other issuers)",
        )
    if "may_act" in payload:
        _check_may_act(payload["may_act"], caller)
    delegation = Delegation(subject, tuple(_principal(rule, actor) for actor in actors))
    return Chain(delegation.actors[0], delegation, _attributes(payload, caller, expose, delegation))


def _actors(act: object, issuer: str, max_depth: int) -> list[_Actor]:
    """Each actor, the immediate one first; walked without recursion, stopped one past the limit."""
    found: list[_Actor] = []
    node, path = act, "act"
    while True:
        if len(found) >= max_depth:
            _too_deep(max_depth)
        actor = _actor(node, path, issuer)
        found.append(actor)
        if "act" not in actor.claims:
            return found
        node, path = actor.claims["act"], f"{path}.act"


def _actor(node: object, path: str, issuer: str) -> _Actor:
    if not isinstance(node, dict):
        fail(
            Reason.MALFORMED_DELEGATION,
            f"claim {path!r} must be a JSON object naming the actor (RFC 8693 4.1)",
        )
    if not _is_name(node.get("sub")):
        fail(
            Reason.MALFORMED_DELEGATION,
            f"{path}.sub must be a non-empty printable string of at most 1024 characters",
        )
    actor_issuer = node.get("iss", issuer)
    if not _is_name(actor_issuer):
        fail(Reason.MALFORMED_DELEGATION, f"{path}.iss must be a non-empty printable string when present")
    return _Actor(path, node, actor_issuer)


def _is_name(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= _MAX_VALUE and value.isprintable()


def _too_deep(max_depth: int) -> NoReturn:
    if max_depth == 0:
        fail(Reason.DELEGATION_TOO_DEEP, "the token names an actor (act) and oidc.max_delegation_depth is 0")
    fail(
        Reason.DELEGATION_TOO_DEEP,
        f"the delegation chain has more than {max_depth} actors (oidc.max_delegation_depth)",
    )


def _check_may_act(may_act: object, caller: _Actor) -> None:
    """RFC 8693 4.4: every claim `may_act` names must have the same value in the caller (`iss`: the
    caller's issuer)."""
    if not isinstance(may_act, dict) or not _is_name(may_act.get("sub")):
        fail(
            Reason.MALFORMED_DELEGATION,
            "claim 'may_act' must be a JSON object naming the permitted actor's sub (RFC 8693 4.4)",
        )
    for name, wanted in may_act.items():
        found = caller.issuer if name == "iss" else caller.claims.get(name)
        if found != wanted:
            fail(
                Reason.ACTOR_NOT_PERMITTED,
                f"the token's may_act does not permit its actor: {name} is {_shown(found)} in act, "
                f"{_shown(wanted)} in may_act",
            )


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:80] + "..."


def _principal(rule: PrincipalRule, actor: _Actor) -> str:
    """The actor's principal: the issuer's template over the actor's own claims, with its issuer."""
    try:
        return rule.render({**actor.claims, "iss": actor.issuer})
    except AuthenticationError as err:
        fail(
            Reason.MALFORMED_DELEGATION,
            f"{actor.path} does not name the actor as the principal template needs: {_why(err)}",
        )


def _attributes(
    payload: Mapping[str, Any], caller: _Actor, expose: tuple[str, ...], chain: Delegation
) -> Attributes:
    """The caller's own exposed claims, the subject's under `subject.`, and the chain."""
    try:
        out = exposed_attributes(caller.claims, expose)
    except AuthenticationError as err:
        fail(Reason.MALFORMED_DELEGATION, f"act: {_why(err)}")
    for name, values in exposed_attributes(payload, expose).items():
        out[SUBJECT_PREFIX + name] = values
    out.update(chain.attributes())
    return out


def _why(err: AuthenticationError) -> str:
    return err.message.removeprefix("oidc: ")
