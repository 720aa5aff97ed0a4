"""A decision with the subjects that made it: which subject of the deciding rule (and of each audit-only rule
that matched) covered the caller, as `/v1/explain` and `meshgate check` show it.

Not on the decision path: the decision is made as the broker's is (`PolicySnapshot.decide`), then the
rules it names are read again for the subject that matched. With `everyone`, `everyone:<kind>` and `except:`
that subject is what a policy author needs to see: `everyone except role:dlq-processor`.
"""

from __future__ import annotations

from dataclasses import dataclass

from meshgate.model import AccessRequest, Decision
from meshgate.policy.compile import CompiledRule
from meshgate.policy.engine import PolicySnapshot, subscription_ok
from meshgate.policy.resources import Target, target_of
from meshgate.policy.subjects import with_exceptions


@dataclass(frozen=True, slots=True)
class Explanation:
    decision: Decision
    # The deciding rule's subject that covers the caller, written as in the policy with the rule's
    # exceptions (`everyone except role:dlq`, as who-can, diff and report show it); "" when no rule decided.
    subject: str = ""
    shadow_subjects: tuple[str, ...] = ()  # the same for each of `decision.shadow`, in its order


def explain_decision(snapshot: PolicySnapshot, req: AccessRequest) -> Explanation:
    """`snapshot.decide(req)`, and the subjects of the rules it names."""
    decision = snapshot.decide(req)
    named = [decision.rule_id, *(s.rule_id for s in decision.shadow)]
    if not any(named):  # a super-user, an unknown action, a bad resource, or no rule matched
        return Explanation(decision, "", ("",) * len(decision.shadow))
    target = target_of(req.resource)  # the decision read it: it is a valid resource
    # the rules `decide` looked at (a scan of every rule takes ~50 ms at 100,000 rules)
    candidates = snapshot.index.candidates(req.action, target.tenant, req.principal, req.issuer)
    wanted = set(named)
    rules = {rule.id: rule for rule in candidates if rule.id in wanted}
    subject, *shadow = (
        matched_subject(rule, req, target) if (rule := rules.get(rule_id)) is not None else ""
        for rule_id in named
    )
    return Explanation(decision, subject, tuple(shadow))


def matched_subject(rule: CompiledRule, req: AccessRequest, target: Target) -> str:
    """The first of `rule`'s subjects that covers `req` on `target`, as the engine matches them (one of its
    resources matches with the subject's captures, the subscription is allowed), with the rule's
    exceptions; "" if none does (the rule does not cover `req`)."""
    for subject in rule.subjects:
        bindings = subject.match(req.principal, req.issuer, req.attributes)
        if bindings is None:
            continue
        for resource in rule.resources:
            if resource.matches(target, bindings) and subscription_ok(
                rule, req.action, req.subscription, bindings
            ):
                return with_exceptions(subject, rule.excepted)
    return ""
