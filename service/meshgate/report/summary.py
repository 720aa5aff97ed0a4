"""What a matrix row grants per intent, the marks that say it, and the matrix as JSON. Pure.

A cell of the HTML page is one (row, intent): which of the intent's actions the row's rules allow, deny,
allow only for some subscriptions, or name in an audit-only rule. The marks below are the page's whole
vocabulary: its legend is generated from `MARKS`, so a mark can only be used if it is explained.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from meshgate.policy.actions import INTENT_ACTIONS
from meshgate.policy.operations import INTENTS, POLICY_NAMES
from meshgate.policy.revision import describe
from meshgate.report.matrix import AccessMatrix, Row, rules_of

INTENT_OF = {action: intent for intent, actions in INTENT_ACTIONS.items() for action in actions}


@dataclass(frozen=True, slots=True)
class Mark:
    kind: str  # allow | cond | deny | audit: the CSS class and the JSON key
    symbol: str
    label: str  # short, for screen readers and tooltips
    meaning: str  # the legend's sentence


MARKS = (
    Mark("allow", "✓", "allowed", "allowed by a rule of this row"),
    Mark(
        "cond",
        "◐",
        "depends on the subscription",
        "allowed or denied only for the subscriptions a rule names (the details say which)",
    ),
    Mark("deny", "✗", "denied", "denied by an explicit deny rule; a deny always wins over an allow"),
    Mark("audit", "◌", "audit-only", "named by an audit-only rule: written to the audit log, never enforced"),
)
MARK = {m.kind: m for m in MARKS}


def kind_of(verdict: str) -> str:
    """The mark of a `Row.verdict`: `allow`, `deny`, `audit`, or `cond` for `allow if`/`unless`, `deny if`."""
    return "cond" if " " in verdict else verdict


@dataclass(frozen=True, slots=True)
class IntentCell:
    intent: str
    actions: dict[str, tuple[str, ...]]  # mark kind -> the actions of the intent with that mark

    def whole(self, kind: str) -> bool:
        """Every operation of the intent has this mark (an `allow` of `read-messages`, say)."""
        return set(self.actions.get(kind, ())) == INTENT_ACTIONS[self.intent]


def intent_cells(row: Row) -> dict[str, IntentCell]:
    """Per intent the row names at least one action of: its actions by mark, in action-table order."""
    cells: dict[str, IntentCell] = {}
    for intent in INTENTS:
        by_kind: dict[str, list[str]] = {}
        for action in row.cells:
            if INTENT_OF[action] == intent:
                by_kind.setdefault(kind_of(row.verdict(action)), []).append(action)
        if by_kind:
            ordered = {m.kind: tuple(by_kind[m.kind]) for m in MARKS if m.kind in by_kind}
            cells[intent] = IntentCell(intent, ordered)
    return cells


def policy_family(action: str, present: set[str]) -> str | None:
    """`namespace_policy.*.read` when `action` is a policy operation all of whose policy names are in
    `present`; None otherwise."""
    family, _, rest = action.partition(".")
    op = rest.rpartition(".")[2]
    if family.endswith("_policy") and all(f"{family}.{n}.{op}" in present for n in POLICY_NAMES):
        return f"{family}.*.{op}"
    return None


def compact_actions(actions: list[str]) -> list[str]:
    """The actions, each policy family whose every name is here written once as a pattern."""
    present = set(actions)
    return list(dict.fromkeys(policy_family(a, present) or a for a in actions))


def matrix_json(matrix: AccessMatrix) -> dict[str, Any]:
    """The matrix for `meshgate report --output json`: per row, each action's verdict and rules."""
    return {
        "revision": matrix.revision,
        "commit": matrix.commit,
        "described": describe(matrix.revision, matrix.commit),
        "superusers": list(matrix.superusers),
        "rows": [_row_json(row) for row in matrix.rows],
    }


def _row_json(row: Row) -> dict[str, Any]:
    actions = {
        action: {"verdict": row.verdict(action), "rules": list(dict.fromkeys(g.rule_id for g in grants))}
        for action, grants in row.cells.items()
    }
    intents = {
        intent: {kind: list(names) for kind, names in cell.actions.items()}
        for intent, cell in intent_cells(row).items()
    }
    return {
        "subject": row.subject,
        "resource": row.resource,
        "rules": rules_of(row),
        "intents": intents,
        "actions": actions,
    }
