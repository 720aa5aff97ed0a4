"""Expand a compiled policy revision into its grants: subjects by resource patterns by actions. Pure.

Each rule contributes one grant per (subject, resource, action) it names; a row of the matrix is one
(subject, resource pattern) pair and its cells say, per action, which rules allow or deny it. Rows are
patterns as written (captures like `{ns}` stay), so overlapping rows are shown as they are: a narrower
deny row (e.g. one topic) overrides a wider allow row for the principals and resources both match, as the
engine does. `meshgate who-can` answers the same question for one concrete resource.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from meshgate.policy.actions import ACTIONS
from meshgate.policy.compile import CompiledRule
from meshgate.policy.engine import PolicySnapshot
from meshgate.policy.subjects import with_exceptions


@dataclass(frozen=True, slots=True)
class Grant:
    effect: str  # allow | deny
    rule_id: str
    audit: bool = False  # audit-only rule: reported, never enforced
    condition: str = ""  # e.g. "subscription matches quarantine-*"


@dataclass
class Row:
    subject: str
    resource: str
    cells: dict[str, list[Grant]] = field(default_factory=dict)

    def verdict(self, action: str) -> str:
        """The cell of `action`: allow, deny, `allow if C`, `allow unless C`, `deny if C`, audit or ""."""
        grants = self.cells.get(action, [])
        enforced = [g for g in grants if not g.audit]
        allows = [g for g in enforced if g.effect == "allow"]
        denies = [g for g in enforced if g.effect == "deny"]
        if any(not g.condition for g in denies):
            return "deny"
        if denies and any(not g.condition for g in allows):
            return f"allow unless {denies[0].condition}"
        if allows:
            plain = any(not g.condition for g in allows)
            return "allow" if plain else f"allow if {allows[0].condition}"
        if denies:
            return f"deny if {denies[0].condition}"
        return "audit" if grants else ""

    def actions(self, effect: str) -> list[str]:
        return [a for a in self.cells if self.verdict(a).startswith(effect)]


@dataclass
class AccessMatrix:
    revision: str
    superusers: tuple[str, ...]
    actions: tuple[str, ...]  # the columns: every action some rule names, in action-table order
    rows: list[Row]
    commit: str = ""  # git commit of the revision, a label


def _condition(rule: CompiledRule) -> str:
    if rule.subscriptions is None:
        return ""
    names = " or ".join(p.text for p in rule.subscriptions)
    # A narrowed deny also applies when the broker names no subscription (it never gets weaker than an allow).
    return f"subscription matches {names}" + (" or is not named" if rule.effect == "deny" else "")


def build_matrix(snapshot: PolicySnapshot) -> AccessMatrix:
    rows: dict[tuple[str, str], Row] = {}
    for rule in sorted(snapshot.rules, key=lambda r: r.order):
        grant = Grant(rule.effect, rule.id, rule.audit, _condition(rule))
        for subject in rule.subjects:
            shown = with_exceptions(subject, rule.excepted)
            for resource in rule.resources:
                row = rows.setdefault((shown, resource.text), Row(shown, resource.text))
                for action in rule.actions:
                    row.cells.setdefault(action, []).append(grant)
    used = {a for row in rows.values() for a in row.cells}
    for row in rows.values():
        row.cells = {a: row.cells[a] for a in ACTIONS if a in row.cells}
    columns = tuple(a for a in ACTIONS if a in used)
    ordered = sorted(rows.values(), key=lambda r: (r.subject, r.resource))
    supers = tuple(sorted(snapshot.superusers))
    return AccessMatrix(snapshot.revision, supers, columns, ordered, snapshot.commit)


def rules_of(row: Row) -> list[str]:
    return list(dict.fromkeys(g.rule_id for grants in row.cells.values() for g in grants))
