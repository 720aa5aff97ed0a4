"""What a policy change grants and takes away, for pull-request review.

Each rule expands into grants: one per subject, concrete action and resource pattern. Comparing the
grant sets of two revisions gives lines such as

    + spiffe://td/ns/pay/sa/writer → topic.produce → persistent://acme/pay/*  (allow, pay.yaml#w)
    - spiffe://td/ns/pay/sa/writer → topic.consume → persistent://acme/pay/x  (new deny, pay.yaml#d)

`+` means access may be gained (an allow added or a deny removed), `-` that it may be lost (an allow
removed or a deny added), `~` a change of an audit-only rule that enforces nothing. The comparison is
textual on patterns: a rule rewritten to an equivalent pattern shows as one line removed, one added.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from meshgate.policy.compile import CompiledRule
from meshgate.policy.engine import PolicySnapshot
from meshgate.policy.subjects import with_exceptions


@dataclass(frozen=True, slots=True, order=True)
class Grant:
    subject: str
    action: str
    resource: str
    subscriptions: str  # "" for any subscription
    effect: str
    audit: bool

    def describe(self) -> str:
        sub = f" [subscription {self.subscriptions}]" if self.subscriptions else ""
        return f"{self.subject} → {self.action} → {self.resource}{sub}"


def rule_grants(rule: CompiledRule) -> Iterable[Grant]:
    subs = "|".join(p.text for p in rule.subscriptions) if rule.subscriptions is not None else ""
    for subject in rule.subjects:
        shown = with_exceptions(subject, rule.excepted)
        for action in sorted(rule.actions):
            for resource in rule.resources:
                yield Grant(shown, action, resource.text, subs, rule.effect, rule.audit)


def grants(snapshot: PolicySnapshot) -> dict[Grant, str]:
    """Every grant of the revision and the first rule that makes it."""
    out: dict[Grant, str] = {}
    for rule in snapshot.rules:
        for grant in rule_grants(rule):
            out.setdefault(grant, rule.id)
    return out


def _line(grant: Grant, rule_id: str, added: bool) -> tuple[Grant, str]:
    if grant.audit:
        change = "audit-only " + ("added" if added else "removed")
        return grant, f"~ {grant.describe()}  ({change} {grant.effect}, {rule_id})"
    gains = added == (grant.effect == "allow")
    what = {True: "allow", False: "allow removed"}[added] if grant.effect == "allow" else None
    what = what or ("new deny" if added else "deny removed")
    return grant, f"{'+' if gains else '-'} {grant.describe()}  ({what}, {rule_id})"


def diff(old: PolicySnapshot, new: PolicySnapshot) -> list[str]:
    """Lines describing access gained (+), lost (-) and audit-only changes (~), sorted by subject."""
    before, after = grants(old), grants(new)
    lines = [_line(g, r, True) for g, r in after.items() if g not in before]
    lines += [_line(g, r, False) for g, r in before.items() if g not in after]
    return [text for _, text in sorted(lines)]
