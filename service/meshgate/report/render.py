"""Render an `AccessMatrix` as a plain-text table for the terminal (the HTML page: `report.html`).

Actions are grouped by intent (`meshgate.policy.operations`): an intent whose every operation has the same
verdict shows as the intent (`read-messages`), any other as `intent: the actions`.
"""

from __future__ import annotations

from collections.abc import Sequence

from meshgate.policy.actions import INTENT_ACTIONS
from meshgate.policy.operations import INTENTS
from meshgate.policy.revision import describe
from meshgate.report.matrix import AccessMatrix, Row, rules_of
from meshgate.report.summary import INTENT_OF, policy_family


def _lines(row: Row) -> list[tuple[str, str, str]]:
    """(effect, rules, actions by intent) per effect present in the row; conditions follow the action
    they narrow."""
    out = []
    for effect in ("allow", "deny", "audit"):
        actions = [a for a in row.cells if row.verdict(a).startswith(effect)]
        if actions:
            rules = {g.rule_id for a in actions for g in row.cells[a]}
            ordered = [r for r in rules_of(row) if r in rules]
            out.append((effect, ", ".join(ordered), by_intent(row, actions)))
    return out


def by_intent(row: Row, actions: Sequence[str]) -> str:
    """`read-messages; inspect: topic.lookup`: an intent all of whose operations are here without a
    condition is named alone; otherwise its actions here are listed after it."""
    groups = []
    for intent in INTENTS:
        mine = [a for a in actions if INTENT_OF[a] == intent]
        if not mine:
            continue
        plain = {a for a in mine if " " not in row.verdict(a)}
        if plain == INTENT_ACTIONS[intent]:
            groups.append(intent)
        else:
            groups.append(f"{intent}: " + ", ".join(_shortened(row, mine, plain)))
    return "; ".join(groups)


def _shortened(row: Row, actions: list[str], plain: set[str]) -> list[str]:
    """The actions, a policy family all of whose names are here without a condition as one pattern
    (`namespace_policy.*.read`)."""
    out: list[str] = []
    for action in actions:
        shown = policy_family(action, plain) or _with_condition(row, action)
        if shown not in out:
            out.append(shown)
    return out


def _with_condition(row: Row, action: str) -> str:
    _, space, qualifier = row.verdict(action).partition(" ")
    return f"{action} ({qualifier})" if space else action


def render_text(matrix: AccessMatrix) -> str:
    """Per subject, one line per resource pattern and effect: RESOURCE  EFFECT  [RULES]  ACTIONS."""
    lines = [f"policy revision {describe(matrix.revision, matrix.commit)}"]
    if matrix.superusers:
        lines.append(f"super-users (every action on every resource): {', '.join(matrix.superusers)}")
    width = max((len(r.resource) for r in matrix.rows), default=0)
    subject = None
    for row in matrix.rows:
        if row.subject != subject:
            subject = row.subject
            lines += ["", subject]
        for effect, rules, actions in _lines(row):
            lines.append(f"  {row.resource.ljust(width)}  {effect:5}  [{rules}]  {actions}")
    return "\n".join(lines) + "\n"
