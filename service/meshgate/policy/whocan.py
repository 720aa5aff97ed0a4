"""Who may do an action on a resource: the reverse question, answered by scanning the rules.

Not on the decision path. Captures are filled in from the resource, so `spiffe://td/ns/{ns}/sa/*` on
`persistent://{ns}-team/*/*` asked about `persistent://orders-team/a/b` answers `spiffe://td/ns/orders/sa/*`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from meshgate.model import Resource
from meshgate.policy.actions import SUBSCRIPTION_ACTIONS
from meshgate.policy.compile import CompiledRule
from meshgate.policy.patterns import Bindings
from meshgate.policy.resources import target_of
from meshgate.policy.subjects import with_exceptions


@dataclass(frozen=True, slots=True)
class Grantee:
    """A subject (captures filled in from the resource) that a rule allows or denies."""

    subject: str
    effect: str  # allow | deny
    rule_id: str  # "superuser" for configured super-users
    audit: bool = False
    condition: str = ""  # e.g. "subscription matches reader-*" when no subscription was given


def _condition(rule: CompiledRule, action: str, subscription: str, bindings: Bindings) -> str | None:
    """ "" if the subscription check passes, a description if it cannot be checked, None if it fails.
    Without a subscription the question is open: a narrowed deny applies to requests naming none too."""
    if rule.subscriptions is None or action not in SUBSCRIPTION_ACTIONS:
        return ""
    checkable = [p for p in rule.subscriptions if p.variables <= bindings.keys()]
    if subscription and any(p.matches(subscription, bindings) for p in checkable):
        return ""
    unchecked = [p.substitute(bindings) for p in rule.subscriptions if p not in checkable]
    if subscription and not unchecked:
        return None
    names = " or ".join(p.substitute(bindings) for p in rule.subscriptions)
    return f"subscription matches {names}" + (" or is not named" if rule.effect == "deny" else "")


def _rule_grantees(rule: CompiledRule, action: str, resource: Resource, subscription: str) -> list[Grantee]:
    target = target_of(resource)
    out = []
    for pattern in rule.resources:
        bindings = pattern.bind(target)
        if bindings is None:
            continue
        condition = _condition(rule, action, subscription, bindings)
        if condition is None:
            continue
        for subject in rule.subjects:
            shown = with_exceptions(subject, rule.excepted, subject.specialize(bindings))
            out.append(Grantee(shown, rule.effect, rule.id, rule.audit, condition))
    return out


def who_can(
    rules: Iterable[CompiledRule],
    superusers: Iterable[str],
    action: str,
    resource: Resource,
    subscription: str = "",
) -> list[Grantee]:
    """Super-users first, then each matching rule's subjects in rule order, without repeats."""
    found = [Grantee(s, "allow", "superuser") for s in sorted(superusers)]
    for rule in rules:
        if action in rule.actions:
            found.extend(_rule_grantees(rule, action, resource, subscription))
    return list(dict.fromkeys(found))
