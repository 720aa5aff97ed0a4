"""A deliberately simple evaluator that scans every rule: the reference the index is tested against."""

from __future__ import annotations

from meshgate.model import AccessRequest, Decision
from meshgate.policy.engine import (
    PolicySnapshot,
    decide_from_matches,
    entry_matches,
    holds_for_any_subscription,
    precheck,
)


def naive_decide(snapshot: PolicySnapshot, req: AccessRequest) -> Decision:
    early = precheck(req, snapshot.superusers, snapshot.revision)
    if isinstance(early, Decision):
        return early
    matched = [
        rule
        for rule in snapshot.rules
        if req.action in rule.actions
        and any(entry_matches(rule, s, r, req, early) for s in rule.subjects for r in rule.resources)
    ]
    entries = [
        (rule, s, r, rule.actions)
        for rule in snapshot.rules
        if req.action in rule.actions
        for s in rule.subjects
        for r in rule.resources
    ]
    any_subscription = holds_for_any_subscription(entries, req, early)
    return decide_from_matches(matched, req, early, snapshot.revision, any_subscription)
