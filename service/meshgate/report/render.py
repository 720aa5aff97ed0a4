"""Render an `AccessMatrix`: a plain-text table for the terminal, a standalone HTML page for review.

Both group actions by intent (`meshgate.policy.operations`): an intent whose every operation has the same
verdict shows as the intent (`read-messages`), any other as `intent: the actions`; the HTML columns are
grouped under their intent.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from meshgate.policy.actions import INTENT_ACTIONS
from meshgate.policy.operations import INTENTS, POLICY_NAMES
from meshgate.policy.revision import describe
from meshgate.report.matrix import AccessMatrix, Row, rules_of

_INTENT_OF = {action: intent for intent, actions in INTENT_ACTIONS.items() for action in actions}


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
        mine = [a for a in actions if _INTENT_OF[a] == intent]
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
        family, _, rest = action.partition(".")
        op = rest.rpartition(".")[2]
        whole = family.endswith("_policy") and all(f"{family}.{n}.{op}" in plain for n in POLICY_NAMES)
        shown = f"{family}.*.{op}" if whole else _with_condition(row, action)
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


_STYLE = """
body { font: 14px system-ui, sans-serif; margin: 2em; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 2px 6px; }
th.action { writing-mode: vertical-rl; transform: rotate(180deg); font-weight: normal; }
td.allow { background: #d9f2d9; } td.deny { background: #f7c6c6; } td.cond { background: #fff2c2; }
td.audit { background: #e3e3f7; } td.subject, td.resource { font-family: monospace; white-space: nowrap; }
"""


def _cell(row: Row, action: str) -> str:
    verdict = row.verdict(action)
    if not verdict:
        return "<td></td>"
    css = "cond" if " " in verdict else verdict
    rules = ", ".join(dict.fromkeys(g.rule_id for g in row.cells[action]))
    mark = {"allow": "✓", "deny": "✗", "audit": "a"}.get(verdict, "?")
    return f'<td class="{css}" title="{html.escape(verdict + " — " + rules)}">{mark}</td>'


def render_html(matrix: AccessMatrix) -> str:
    e = html.escape
    columns = sorted(matrix.actions, key=lambda a: INTENTS.index(_INTENT_OF[a]))  # stable: table order
    intents = [i for i in INTENTS if any(_INTENT_OF[a] == i for a in columns)]
    groups = "".join(f'<th colspan="{sum(_INTENT_OF[a] == i for a in columns)}">{e(i)}</th>' for i in intents)
    head = "".join(f'<th class="action">{e(a)}</th>' for a in columns)
    body = "".join(
        f'<tr><td class="subject">{e(r.subject)}</td><td class="resource">{e(r.resource)}</td>'
        + "".join(_cell(r, a) for a in columns)
        + "</tr>\n"
        for r in matrix.rows
    )
    supers = e(", ".join(matrix.superusers) or "none")
    return (
        "<!doctype html>\n<html><head><meta charset='utf-8'>"
        f"<title>meshgate access report {e(matrix.revision)}</title><style>{_STYLE}</style></head>\n"
        "<body>\n<h1>meshgate access report</h1>\n"
        f"<p>Policy revision <code>{e(describe(matrix.revision, matrix.commit))}</code>. "
        f"Super-users (everything): {supers}.</p>\n"
        "<p>✓ allow, ✗ deny (deny wins), yellow: only for the subscriptions named, a: audit-only rule. "
        "Hover a cell for its rules.</p>\n"
        f'<table><thead><tr><th rowspan="2">subject</th><th rowspan="2">resource</th>{groups}</tr>\n'
        f"<tr>{head}</tr></thead>\n<tbody>\n{body}</tbody></table>\n"
        "</body></html>\n"
    )
