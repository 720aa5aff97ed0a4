"""The access report as one standalone HTML page: a legend, then a table a laptop screen holds.

One column per intent (`meshgate.policy.operations.INTENTS`), one table section per subject, one row per
resource pattern. A cell says, with the marks of `meshgate.report.summary.MARKS`, which of the intent's
operations the row's rules allow, deny, narrow by subscription or only audit; the last column opens (a
`<details>` element: a keyboard reaches it with Tab and opens it with Enter) to every action, its verdict
and the rules that decide it. No script, no external resource: the page can be attached to a review.
"""

from __future__ import annotations

import html
import itertools
import re

from meshgate.policy.actions import INTENT_ACTIONS
from meshgate.policy.operations import INTENTS
from meshgate.policy.revision import describe
from meshgate.report.matrix import AccessMatrix, Row, rules_of
from meshgate.report.summary import MARK, MARKS, IntentCell, compact_actions, intent_cells

_STYLE = """
*, *::before, *::after { box-sizing: border-box; }
body { font: 14px/1.4 system-ui, sans-serif; margin: 1rem 1.25rem; color: #1a1a1a; }
h1 { font-size: 1.3rem; margin: 0 0 .4rem; }
p { margin: .3rem 0; }
code, .name { font-family: ui-monospace, monospace; font-size: 13px; overflow-wrap: anywhere; }
.legend { margin: .6rem 0 .8rem; padding: .4rem .8rem; border: 1px solid #bbb; border-radius: 4px; }
.legend h2 { font-size: 1rem; margin: 0 0 .2rem; }
.legend dl { display: grid; grid-template-columns: repeat(auto-fit, minmax(19rem, 1fr)); gap: .2rem 1.2rem;
  margin: 0; }
.legend div { display: flex; gap: .5rem; align-items: baseline; }
.legend dt { flex: none; min-width: 2.2rem; font-weight: 600; }
.legend dd { margin: 0; }
table { border-collapse: collapse; width: 100%; table-layout: fixed; }
col.resource { width: 23%; } col.intent { width: 9.5%; } col.detail { width: 29.5%; }
th, td { border: 1px solid #c8c8c8; padding: 3px 6px; vertical-align: top; text-align: left; }
thead th { background: #f0f0f0; }
th.subject { background: #e4e9f2; font-weight: 600; padding-top: 6px; }
td.intent { white-space: nowrap; }
td.allow { background: #d9f2d9; } td.cond { background: #fff2c2; }
td.deny { background: #f7c6c6; } td.audit { background: #e3e3f7; }
.mark { display: inline-block; min-width: 1.1em; font-weight: 700; text-align: center; }
summary { cursor: pointer; }
summary:focus-visible { outline: 3px solid #1a5fb4; outline-offset: 1px; }
details[open] summary { margin-bottom: .3rem; }
.detail dt { font-weight: 600; margin-top: .2rem; }
.detail dd { margin: 0 0 .15rem .4rem; overflow-wrap: anywhere; }
.rules { color: #444; }
"""


def _mark(kind: str) -> str:
    m = MARK[kind]
    return f'<span class="mark" role="img" aria-label="{m.label}" title="{m.label}">{m.symbol}</span>'


def _legend() -> str:
    marks = [(_mark(m.kind), m.meaning) for m in MARKS]
    names = [
        ("<code>all</code>", "every operation of the intent; otherwise the number of operations"),
        ("blank", "no rule of this row names the intent: denied unless another row allows it"),
        ("<code>*</code>", "in a name: any run of characters within one part (between <code>/</code>)"),
        ("<code>{ns}</code>", "a capture: the subject's part, the same value in the resource"),
        ("<code>everyone except</code>", "every principal of that kind but the ones named after it"),
        ("<code>oidc:…[claim=v]</code>", "SSO users of that issuer whose claim holds one of the values"),
    ]
    items = "".join(f"<div><dt>{term}</dt><dd>{text}</dd></div>" for term, text in marks + names)
    return f'<section class="legend" id="legend"><h2>Legend</h2><dl>{items}</dl></section>'


def _breakable(name: str) -> str:
    """`name` escaped, with a line-break opportunity after each `/` and `#`."""
    return re.sub(r"([/#])", r"\1<wbr>", html.escape(name))


def _intent_td(cell: IntentCell | None) -> str:
    if cell is None:
        return '<td class="intent"></td>'
    parts = []
    for kind, actions in cell.actions.items():
        count = "all" if cell.whole(kind) else str(len(actions))
        parts.append(f"{_mark(kind)} {count}")
    strongest = next(k for k in ("deny", "cond", "allow", "audit") if k in cell.actions)
    return f'<td class="intent {strongest}">{"<br>".join(parts)}</td>'


def _detail(row: Row, cells: dict[str, IntentCell]) -> str:
    lines = []
    for intent, cell in cells.items():
        lines.append(f"<dt>{intent}</dt>")
        for kind, actions in cell.actions.items():
            for verdict, rules, names in _groups(row, actions):
                shown = _names(intent, names)
                why = f" ({html.escape(verdict)})" if kind == "cond" else ""
                lines.append(
                    f'<dd>{_mark(kind)} {shown}{why} <span class="rules">— {_breakable(rules)}</span></dd>'
                )
    count = sum(len(a) for c in cells.values() for a in c.actions.values())
    deciding = len(rules_of(row))
    summary = f"{count} action{'s' * (count != 1)} · {deciding} rule{'s' * (deciding != 1)}"
    return f'<details><summary>{summary}</summary><dl class="detail">{"".join(lines)}</dl></details>'


def _names(intent: str, names: list[str]) -> str:
    if len(names) > 1 and set(names) == INTENT_ACTIONS[intent]:
        return f"all {len(names)} operations of {intent}"
    return '<span class="name">' + ", ".join(html.escape(a) for a in compact_actions(names)) + "</span>"


def _groups(row: Row, actions: tuple[str, ...]) -> list[tuple[str, str, list[str]]]:
    """The actions grouped by (verdict, deciding rules), in order of first appearance."""
    groups: dict[tuple[str, str], list[str]] = {}
    for action in actions:
        rules = ", ".join(dict.fromkeys(g.rule_id for g in row.cells[action]))
        groups.setdefault((row.verdict(action), rules), []).append(action)
    return [(verdict, rules, names) for (verdict, rules), names in groups.items()]


def _row(row: Row) -> str:
    cells = intent_cells(row)
    intents = "".join(_intent_td(cells.get(intent)) for intent in INTENTS)
    resource = f'<td class="name">{_breakable(row.resource)}</td>'
    return f"<tr>{resource}{intents}<td>{_detail(row, cells)}</td></tr>\n"


def _body(matrix: AccessMatrix) -> str:
    """One `<tbody>` per subject (the rows are sorted by subject), headed by the subject."""
    sections = []
    for subject, rows in itertools.groupby(matrix.rows, key=lambda r: r.subject):
        span = len(INTENTS) + 2
        head = f'<th class="subject name" colspan="{span}" scope="rowgroup">{_breakable(subject)}</th>'
        sections.append(f"<tbody><tr>{head}</tr>\n{''.join(_row(r) for r in rows)}</tbody>\n")
    return "".join(sections)


def render_html(matrix: AccessMatrix) -> str:
    e = html.escape
    supers = e(", ".join(matrix.superusers) or "none")
    columns = '<col class="resource">' + '<col class="intent">' * len(INTENTS) + '<col class="detail">'
    heads = "".join(f'<th scope="col">{e(i)}</th>' for i in INTENTS)
    return (
        "<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>meshgate access report {e(matrix.revision)}</title><style>{_STYLE}</style></head>\n"
        "<body>\n<h1>meshgate access report</h1>\n"
        f"<p>Policy revision <code>{e(describe(matrix.revision, matrix.commit))}</code>. "
        f"Super-users, allowed everything before any rule: <code>{supers}</code>.</p>\n"
        "<p>One section per subject, one row per resource pattern as the policy writes it, one column per "
        "intent. Anything no row allows is denied. Where rows overlap, a deny in one row wins over an "
        "allow in another for what both cover; <code>meshgate who-can</code> answers for one resource. "
        "Open a row's details (Tab, then Enter) for every action and the rules that decide it.</p>\n"
        f"{_legend()}\n"
        "<table><caption hidden>Access by subject, resource and intent</caption>"
        f"<colgroup>{columns}</colgroup>\n"
        f'<thead><tr><th scope="col">resource</th>{heads}<th scope="col">details</th></tr></thead>\n'
        f"{_body(matrix)}</table>\n</body></html>\n"
    )
