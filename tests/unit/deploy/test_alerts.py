"""observability/alerts.yaml: well-formed rules, every metric one meshgate exports, a runbook per alert."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.exported_metrics import is_exported, meshgate_metrics_in

ROOT = Path(__file__).resolve().parents[3]
ALERTS = ROOT / "observability" / "alerts.yaml"
OPERATIONS = ROOT / "docs" / "operations.md"
DASHBOARD = ROOT / "observability" / "grafana-dashboard.json"


def _rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def _anchor(heading: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^a-z0-9 -]", "", heading.lower()).replace(" ", "-")


@pytest.mark.parametrize("rule", _rules(), ids=lambda rule: rule["alert"])
def test_alert_is_complete(rule: dict[str, Any]) -> None:
    assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}
    assert rule["labels"]["severity"] in ("warning", "critical")
    assert rule["annotations"]["summary"]
    assert re.fullmatch(r"\d+[smh]", rule.get("for", "0s"))


@pytest.mark.parametrize("rule", _rules(), ids=lambda rule: rule["alert"])
def test_alert_reads_metrics_meshgate_exports(rule: dict[str, Any]) -> None:
    names = meshgate_metrics_in(rule["expr"])
    assert names, "an alert that reads no meshgate metric"
    for name in names:
        assert is_exported(name), f"{name} is not exported"


@pytest.mark.parametrize("rule", _rules(), ids=lambda rule: rule["alert"])
def test_what_an_alert_reads_is_charted_on_the_dashboard(rule: dict[str, Any]) -> None:
    """An operator paged by an alert finds the metric behind it on the dashboard."""
    dashboard = json.loads(DASHBOARD.read_text())
    charted = {
        n for p in dashboard["panels"] for t in p.get("targets", []) for n in meshgate_metrics_in(t["expr"])
    }
    assert meshgate_metrics_in(rule["expr"]) <= charted


@pytest.mark.parametrize("rule", _rules(), ids=lambda rule: rule["alert"])
def test_alert_has_a_runbook(rule: dict[str, Any]) -> None:
    path, _, anchor = rule["annotations"]["runbook_url"].partition("#")
    assert path == "docs/operations.md"
    headings = re.findall(r"^### (.+)$", OPERATIONS.read_text(), re.M)
    assert anchor in {_anchor(h) for h in headings}, f"no runbook heading for #{anchor}"


def test_every_runbook_heading_is_linked_from_an_alert_or_is_a_procedure() -> None:
    linked = {rule["annotations"]["runbook_url"].partition("#")[2] for rule in _rules()}
    text = OPERATIONS.read_text()
    runbooks = text[text.index("## Runbooks") :]
    headings = {_anchor(h) for h in re.findall(r"^### (.+)$", runbooks, re.M)}
    assert headings - linked == {"break-glass"}  # a procedure people follow, not an alert's runbook
