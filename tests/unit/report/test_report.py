"""`meshgate report`: the access matrix of a policy folder as text and HTML."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from meshgate.cli import main
from meshgate.policy import load_policy
from meshgate.policy.operations import INTENTS
from meshgate.report.html import render_html
from meshgate.report.matrix import build_matrix
from meshgate.report.render import render_text
from meshgate.report.summary import MARKS

POLICY = """
apiVersion: meshgate.dev/v1
kind: AccessPolicy
metadata: {name: orders}
rules:
  - name: app-produces
    effect: allow
    subjects: [{spiffe: "spiffe://td/ns/orders/sa/app"}]
    actions: [produce, consume]
    resources: ["persistent://shop/orders/*"]
  - name: app-not-audit
    effect: deny
    subjects: [{spiffe: "spiffe://td/ns/orders/sa/app"}]
    actions: [topic.produce]
    resources: ["persistent://shop/orders/audit"]
  - name: no-quarantine
    effect: deny
    subjects: [{spiffe: "spiffe://td/ns/orders/sa/app"}]
    actions: [topic.consume]
    resources: ["persistent://shop/orders/*"]
    subscriptions: ["quarantine-*"]
  - name: planned
    effect: deny
    mode: audit
    subjects: [{role: ops}]
    actions: [topic.produce]
    resources: ["shop"]
"""
APP = "spiffe://td/ns/orders/sa/app"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "policy").mkdir()
    (tmp_path / "policy" / "orders.yaml").write_text(POLICY)
    return tmp_path / "policy"


def test_matrix_cells_follow_the_engine(folder: Path) -> None:
    matrix = build_matrix(load_policy(folder, superusers={"root"}))
    assert matrix.superusers == ("root",)
    assert set(matrix.actions) == {"topic.produce", "topic.consume", "topic.subscribe", "topic.lookup"}
    rows = {(r.subject, r.resource): r for r in matrix.rows}
    wide = rows[(APP, "persistent://shop/orders/*")]
    assert wide.verdict("topic.produce") == "allow"
    assert wide.verdict("topic.consume") == "allow unless subscription matches quarantine-* or is not named"
    assert wide.verdict("namespace.create_topic") == ""
    assert rows[(APP, "persistent://shop/orders/audit")].verdict("topic.produce") == "deny"
    assert rows[("role:ops", "shop")].verdict("topic.produce") == "audit"


def test_report_prints_the_table_and_writes_html(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "out" / "report.html"
    page.parent.mkdir()
    assert main(["report", "--policy", str(folder), "--html", str(page), "--superuser", "root"]) == 0
    out = capsys.readouterr().out
    revision = load_policy(folder, superusers=["root"]).revision
    assert (
        f"policy revision {revision}" in out and "super-users (every action on every resource): root" in out
    )
    assert "  persistent://shop/orders/audit  deny   [orders.yaml#app-not-audit]  write-messages" in out
    assert "topic.consume (unless subscription matches quarantine-* or is not named)" in out
    html = page.read_text()
    assert revision in html and '<th scope="col">write-messages</th>' in html
    assert 'topic.produce</span> <span class="rules">— orders.yaml#<wbr>app-not-audit</span>' in html
    assert "topic.consume</span> (allow unless subscription matches quarantine-* or is not named)" in html


def test_bad_folder_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.yaml").write_text("kind: AccessPolicy\n")
    assert main(["report", "--policy", str(tmp_path)]) == 2
    assert "meshgate report:" in capsys.readouterr().err


def test_report_groups_actions_by_intent(folder: Path, tmp_path: Path) -> None:
    """An intent whose every operation has the verdict is named alone; others list their actions."""
    matrix = build_matrix(load_policy(folder))
    text = render_text(matrix)
    assert (
        "  persistent://shop/orders/*      allow  [orders.yaml#app-produces, orders.yaml#no-quarantine]  "
        "read-messages: topic.consume (unless subscription matches quarantine-* or is not named), "
        "topic.subscribe; write-messages; inspect: topic.lookup" in text
    ), text
    heads = "".join(f'<th scope="col">{i}</th>' for i in INTENTS)
    assert f'<th scope="col">resource</th>{heads}<th scope="col">details</th>' in render_html(matrix)


def _cells(page: str, resource: str) -> list[str]:
    """The intent cells of the row of `resource`, as HTML."""
    row = page.split(f'<td class="name">{resource}</td>', 1)[1].split("</tr>", 1)[0]
    return re.findall(r'<td class="intent[^"]*">.*?</td>', row)[: len(INTENTS)]


def test_html_cells_count_actions_by_mark_per_intent(folder: Path) -> None:
    """A cell per intent: each mark with `all` (the whole intent) or how many of its operations."""
    page = render_html(build_matrix(load_policy(folder)))
    read, write, inspect, configure, administer = _cells(
        page, "persistent:/<wbr>/<wbr>shop/<wbr>orders/<wbr>*"
    )
    assert read.startswith('<td class="intent cond">') and ">✓</span> 1<br>" in read and "◐</span> 1" in read
    assert write == '<td class="intent allow"><span class="mark" role="img" aria-label="allowed" ' \
        'title="allowed">✓</span> all</td>'  # fmt: skip
    assert ">✓</span> 1</td>" in inspect
    assert configure == administer == '<td class="intent"></td>'
    audit = _cells(page, "shop")
    assert audit[1].startswith('<td class="intent audit">') and "◌</span> all" in audit[1]


def test_html_legend_explains_every_mark_and_details_open_per_row(folder: Path) -> None:
    page = render_html(build_matrix(load_policy(folder)))
    legend, table = page.split("<table>", 1)
    for mark in MARKS:
        assert f">{mark.symbol}</span></dt><dd>{mark.meaning}</dd>" in legend
    used = set(re.findall(r'<span class="mark"[^>]*>(.)</span>', table))
    assert used == {m.symbol for m in MARKS}  # this policy uses every mark
    assert table.count("<details><summary>") == len(build_matrix(load_policy(folder)).rows)
    assert "<script" not in page and "http" not in page.split("<body>", 1)[1]  # standalone


def test_json_output_lists_every_action_with_its_verdict_and_rules(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "--policy", str(folder), "--output", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    rows = {(r["subject"], r["resource"]): r for r in document["rows"]}
    wide = rows[(APP, "persistent://shop/orders/*")]
    assert wide["actions"]["topic.produce"] == {"verdict": "allow", "rules": ["orders.yaml#app-produces"]}
    assert wide["intents"]["read-messages"] == {
        "allow": ["topic.subscribe"],
        "cond": ["topic.consume"],
    }
    assert document["revision"].startswith("sha256:") and document["superusers"] == []
