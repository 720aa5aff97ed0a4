"""A deliberately simple evaluator that scans every rule: the reference the index is tested against."""

from __future__ import annotations

from meshgate.model import AccessRequest, Decision
from meshgate.policy.compile import CompiledRule
from meshgate.policy.engine import (
    PolicySnapshot,
    decide_from_matches,
    excepted,
    holds_for_any_subscription,
    precheck,
    subscription_ok,
)
from meshgate.policy.resources import ResourcePattern, Target
from meshgate.policy.subjects import Subject


def naive_decide(snapshot: PolicySnapshot, req: AccessRequest) -> Decision:
    early = precheck(req, snapshot.superusers, snapshot.revision)
    if isinstance(early, Decision):
        return early
    with_action = [rule for rule in snapshot.rules if req.action in rule.actions]
    matched = [
        rule
        for rule in with_action
        if any(_pair_matches(rule, s, r, req, early) for s in rule.subjects for r in rule.resources)
    ]
    any_subscription = holds_for_any_subscription(with_action, req, early)
    return decide_from_matches(matched, req, early, snapshot.revision, any_subscription)


def _pair_matches(
    rule: CompiledRule, subject: Subject, resource: ResourcePattern, req: AccessRequest, target: Target
) -> bool:
    """The definition: this (subject, resource) pair of `rule` covers `req` (the action aside)."""
    bindings = subject.match(req.principal, req.issuer, req.attributes)
    if bindings is None or not resource.matches(target, bindings):
        return False
    if excepted(rule, req):
        return False
    return subscription_ok(rule, req.action, req.subscription, bindings)
