"""Evaluate an AccessRequest against one compiled policy revision. Pure, synchronous, no I/O.

Order of evaluation: super-users are allowed everything; an action outside the table is denied; a
malformed resource is denied; then among the enforced rules that match, the first deny decides, else
the first allow, else the default deny. Matching audit-only rules are reported in `Decision.shadow`.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import operator
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import overload

from meshgate.errors import BadRequestError
from meshgate.model import DELEGATION_SUBJECT, AccessRequest, Decision, Resource, ShadowEffect
from meshgate.policy import revision as revisions
from meshgate.policy.actions import SUBSCRIPTION_ACTIONS, is_known
from meshgate.policy.compile import ALLOW, AUDIT, DENY, CompiledRule
from meshgate.policy.index import RuleIndex
from meshgate.policy.patterns import NO_BINDINGS, Bindings
from meshgate.policy.resources import ResourcePattern, Target, parse_resource, target_of
from meshgate.policy.subjects import Held
from meshgate.policy.whocan import Grantee, who_can

_ORDER = operator.attrgetter("source.file", "index")


def subscription_ok(rule: CompiledRule, action: str, subscription: str, bindings: Bindings) -> bool:
    """A rule's `subscriptions` narrows only actions that name a subscription. When the broker names none
    (Pulsar asks `topic.expire_messages` for all subscriptions, `topic.peek_messages` and
    `namespace.unsubscribe` without one), a narrowed allow does not apply and a narrowed deny does: an
    explicit deny is never weaker than the allow it guards."""
    if rule.subscriptions is None or action not in SUBSCRIPTION_ACTIONS:
        return True
    if not subscription:
        return rule.effect == "deny"
    return any(p.matches(subscription, bindings) for p in rule.subscriptions)


def holds_for_any_subscription(rules: Iterable[CompiledRule], req: AccessRequest, target: Target) -> bool:
    """For an action that names a subscription: True when none of `rules` (rules granting or denying the
    action) that covers the principal and the resource narrows subscriptions, so the decision is the same
    whatever the subscription. False for every other action (nothing to assert)."""
    if req.action not in SUBSCRIPTION_ACTIONS:
        return False
    bindings: Bindings | None
    for rule in rules:
        if rule.subscriptions is None:
            continue
        held = rule.held_subjects
        subjects: tuple[Held, ...] = held if type(held) is tuple else (held,)  # type: ignore[assignment]
        for subject in subjects:
            if isinstance(subject, str):  # an exact SPIFFE ID
                if subject != req.principal:
                    continue
                bindings = NO_BINDINGS
            else:
                bindings = subject.match(req.principal, req.issuer, req.attributes)
                if bindings is None:
                    continue
            one = rule.held_resources
            resources: tuple[ResourcePattern, ...] = one if type(one) is tuple else (one,)  # type: ignore[assignment]
            for resource in resources:
                if resource.matches(target, bindings) and not excepted(rule, req):
                    return False
    return True


def match_rules(
    rules: Iterable[CompiledRule], req: AccessRequest, target: Target
) -> tuple[list[CompiledRule], bool]:
    """The rules of `rules` that cover `req`: one (subject, resource) pair matches, no `except:` subject
    matches the caller and the subscription is allowed (the action is checked by the caller). And
    whether one of them that covers the principal and the resource narrows subscriptions:
    `holds_for_any_subscription(rules, ...)` is `req.action in SUBSCRIPTION_ACTIONS and not narrowed`.
    One walk over the pairs for both answers."""
    principal, issuer, attributes = req.principal, req.issuer, req.attributes
    matched: list[CompiledRule] = []
    narrowed = False
    bindings: Bindings | None
    for rule in rules:
        held = rule.held_subjects  # one subject as itself, several in a tuple (`type() is`: no call)
        subjects: tuple[Held, ...] = held if type(held) is tuple else (held,)  # type: ignore[assignment]
        for subject in subjects:
            if isinstance(subject, str):  # an exact SPIFFE ID, as a rule holds it
                if subject != principal:
                    continue
                bindings = NO_BINDINGS
            else:
                bindings = subject.match(principal, issuer, attributes)
                if bindings is None:
                    continue
            one = rule.held_resources
            resources: tuple[ResourcePattern, ...] = one if type(one) is tuple else (one,)  # type: ignore[assignment]
            for resource in resources:
                if not resource.matches(target, bindings):
                    continue
                if rule.excepted and excepted(rule, req):
                    break  # not for this caller, whatever the pair
                if rule.subscriptions is not None:
                    narrowed = True
                    if not subscription_ok(rule, req.action, req.subscription, bindings):
                        continue
                matched.append(rule)
                break
            else:
                continue
            break  # the rule is decided: it covers the caller, or excepts it
    return matched, narrowed


def excepted(rule: CompiledRule, req: AccessRequest) -> bool:
    """True if one of the rule's `except:` subjects matches the caller: then the rule is not for it."""
    return any(e.match(req.principal, req.issuer, req.attributes) is not None for e in rule.excepted)


def _sentence(req: AccessRequest, target: Target) -> str:
    return f"{req.principal!r}{_acting_for(req)} to {req.action} on {target.describe()}"


def _acting_for(req: AccessRequest) -> str:
    """` (acting for 'oidc:...#alice')` for an agent's delegated call, else ""."""
    attributes = req.attributes
    if not attributes:  # most requests: the shared empty mapping
        return ""
    subject = attributes.get(DELEGATION_SUBJECT)
    return f" (acting for {subject[0]!r})" if subject else ""


def _in_order(matched: Iterable[CompiledRule]) -> list[CompiledRule]:
    """The distinct rules in rule order. Deduplicated by identity, not by value: hashing a frozen rule
    hashes all its subjects and resources (a snapshot holds each rule once)."""
    rules = matched if isinstance(matched, list) else list(matched)
    if len(rules) < 2:
        return rules
    return sorted({id(r): r for r in rules}.values(), key=_ORDER)


def _first_deny_and_allow(
    ordered: list[CompiledRule],
) -> tuple[CompiledRule | None, CompiledRule | None, tuple[ShadowEffect, ...]]:
    """The first enforced deny, the first enforced allow, and what every audit-only rule would do."""
    deny = allow = None
    shadow = []
    for rule in ordered:
        mode = rule.mode  # read once: effect and audit are derived from it
        if mode >= AUDIT:
            shadow.append(ShadowEffect(rule.id, mode == AUDIT + ALLOW))
        elif mode == DENY:
            if deny is None:
                deny = rule
        elif allow is None:
            allow = rule
    return deny, allow, tuple(shadow)


def decide_from_matches(
    matched: Iterable[CompiledRule],
    req: AccessRequest,
    target: Target,
    revision: str,
    any_subscription: bool = False,
) -> Decision:
    """The decision for the rules that matched `req` (any order; rule order breaks ties)."""
    deny, allow, shadow = _first_deny_and_allow(_in_order(matched))
    if deny is not None:
        rule_id = deny.id  # read from its file's columns: once
        reason = f"rule {rule_id} denies {_sentence(req, target)}"
        return Decision(False, rule_id, "denied_by_rule", reason, revision, shadow, any_subscription)
    if allow is not None:
        rule_id = allow.id
        reason = f"rule {rule_id} allows {_sentence(req, target)}"
        return Decision(True, rule_id, "allowed_by_rule", reason, revision, shadow, any_subscription)
    reason = f"no rule allows {_sentence(req, target)}; access is denied by default"
    return Decision(False, "", "no_matching_rule", reason, revision, shadow, any_subscription)


def precheck(req: AccessRequest, superusers: frozenset[str], revision: str) -> Decision | Target:
    """The decision that needs no rule (super-user, unknown action, bad resource), else the target."""
    if req.principal in superusers:
        reason = f"{req.principal!r} is a configured super-user and may do everything"
        return Decision(True, "", "superuser", reason, revision)
    if not is_known(req.action):
        reason = f"action {req.action!r} is not in the action table; unknown actions are always denied"
        return Decision(False, "", "unknown_action", reason, revision)
    try:
        return target_of(req.resource)
    except BadRequestError as exc:
        return Decision(False, "", "invalid_resource", exc.message, revision)


@dataclass(frozen=True, slots=True)
class CompiledFile:
    """The rules compiled from one policy file, and a digest of what they were compiled from (the text
    and the Linkerd naming): the next revision reuses them when the digest is the same."""

    digest: bytes
    rules: tuple[CompiledRule, ...]


def file_digest(text: str, naming: tuple[str, str]) -> bytes:
    return hashlib.sha256("\0".join((*naming, text)).encode()).digest()


_NO_FILES: Mapping[str, CompiledFile] = MappingProxyType({})


class RuleChain(Sequence[CompiledRule]):
    """The rules of a revision in order, read from its files' own tuples: no second tuple of every rule
    beside them (8 B a rule). Equal to any sequence of the same rules, as the tuple it stands for."""

    __slots__ = ("_len", "_parts")

    def __init__(self, parts: Iterable[tuple[CompiledRule, ...]]) -> None:
        self._parts = tuple(part for part in parts if part)
        self._len = sum(map(len, self._parts))

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[CompiledRule]:
        return itertools.chain.from_iterable(self._parts)

    @overload
    def __getitem__(self, index: int) -> CompiledRule: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[CompiledRule, ...]: ...
    def __getitem__(self, index: int | slice) -> CompiledRule | tuple[CompiledRule, ...]:
        if isinstance(index, slice):
            return tuple(self)[index]
        if index < 0:
            index += self._len
        if not 0 <= index < self._len:
            raise IndexError("rule index out of range")
        for part in self._parts:
            if index < len(part):
                return part[index]
            index -= len(part)
        raise AssertionError("unreachable")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"RuleChain({self._len} rules)"


@dataclass(frozen=True, slots=True)
class PolicySnapshot:
    """One immutable, compiled policy revision. `revision` is a digest of everything it was compiled
    from (`meshgate.policy.revision`); `commit` the git commit of the folder, a label for humans."""

    revision: str
    content_hash: str
    rules: Sequence[CompiledRule]  # a tuple, or the files' rules in order (`RuleChain`)
    superusers: frozenset[str] = frozenset()
    source: str = ""
    commit: str = ""
    files: Mapping[str, CompiledFile] = field(default_factory=lambda: _NO_FILES, repr=False, compare=False)
    index: RuleIndex = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", RuleIndex(self.rules))

    def with_superusers(self, superusers: Iterable[str]) -> PolicySnapshot:
        """The same rules with other super-users, under a revision of its own; shares the compiled index."""
        superusers = frozenset(superusers)
        if superusers == self.superusers:
            return self
        clone = copy.copy(self)
        object.__setattr__(clone, "superusers", superusers)
        object.__setattr__(clone, "revision", revisions.with_superusers(self.revision, superusers))
        return clone

    def decide(self, req: AccessRequest) -> Decision:
        early = precheck(req, self.superusers, self.revision)
        if isinstance(early, Decision):
            return early
        rules = self.index.candidates(req.action, early.tenant, req.principal, req.issuer)
        matched, narrowed = match_rules(rules, req, early)
        any_subscription = not narrowed and req.action in SUBSCRIPTION_ACTIONS
        return decide_from_matches(matched, req, early, self.revision, any_subscription)

    def who_can(self, action: str, resource: Resource | str, subscription: str = "") -> list[Grantee]:
        """Super-users, then every rule subject that matches `action` on `resource` (allows and denies)."""
        if isinstance(resource, str):
            resource = parse_resource(resource)
        return who_can(self.rules, self.superusers, action, resource, subscription)
