"""`meshgate report`: the access matrix of a policy folder as text and HTML."""

from __future__ import annotations

from pathlib import Path

import pytest
from meshgate.cli import main
from meshgate.policy import load_policy
from meshgate.report.matrix import build_matrix

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
    assert revision in html and '<th class="action">topic.produce</th>' in html
    assert 'class="deny" title="deny — orders.yaml#app-not-audit"' in html
    assert (
        'class="cond" title="allow unless subscription matches quarantine-* or is not named — '
        "orders.yaml#app-produces, " in html
    )


def test_bad_folder_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.yaml").write_text("kind: AccessPolicy\n")
    assert main(["report", "--policy", str(tmp_path)]) == 2
    assert "meshgate report:" in capsys.readouterr().err


def test_report_groups_actions_by_intent(folder: Path, tmp_path: Path) -> None:
    """An intent whose every operation has the verdict is named alone; others list their actions."""
    from meshgate.report.render import render_html, render_text

    matrix = build_matrix(load_policy(folder))
    text = render_text(matrix)
    assert (
        "  persistent://shop/orders/*      allow  [orders.yaml#app-produces, orders.yaml#no-quarantine]  "
        "read-messages: topic.consume (unless subscription matches quarantine-* or is not named), "
        "topic.subscribe; write-messages; inspect: topic.lookup" in text
    ), text
    page = render_html(matrix)
    assert '<th colspan="2">read-messages</th><th colspan="1">write-messages</th>' in page
    assert '<th colspan="1">inspect</th>' in page
