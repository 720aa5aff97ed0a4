"""The grant diff: gained, lost and audit-only lines."""

from __future__ import annotations

from conftest import HEADER, WritePolicy
from meshgate.policy import load_policy
from meshgate.policy.diff import diff

BASE = (
    HEADER
    + """\
metadata: {name: p}
rules:
  - {name: a, effect: allow, subjects: [{role: app}], actions: [topic.produce], resources: [t]}
  - {name: d, effect: deny, subjects: [{role: app}], actions: [topic.produce], resources: [t/secret]}
"""
)


def test_removing_a_deny_gains_and_audit_changes_are_marked(write_policy: WritePolicy) -> None:
    old = load_policy(write_policy({"p.yaml": BASE}, folder="old"))
    new_text = BASE.split("  - {name: d")[0] + (
        "  - {name: s, mode: audit, effect: allow, subjects: [{role: x}], actions: [topic.lookup]"
        ", resources: [t]}\n"
        "  - {name: c, effect: allow, subjects: [{role: app}], actions: [consume], resources: [t]"
        ', subscriptions: ["app-*"]}\n'
    )
    new = load_policy(write_policy({"p.yaml": new_text}, folder="new"))
    assert diff(old, new) == [
        "+ role:app → topic.consume → t [subscription app-*]  (allow, p.yaml#c)",
        "+ role:app → topic.lookup → t [subscription app-*]  (allow, p.yaml#c)",
        "+ role:app → topic.produce → t/secret  (deny removed, p.yaml#d)",
        "+ role:app → topic.subscribe → t [subscription app-*]  (allow, p.yaml#c)",
        "~ role:x → topic.lookup → t  (audit-only added allow, p.yaml#s)",
    ]
    assert diff(new, new) == []


def test_moving_a_rule_to_another_file_changes_nothing(write_policy: WritePolicy) -> None:
    old = load_policy(write_policy({"p.yaml": BASE}, folder="old"))
    new = load_policy(write_policy({"q.yaml": BASE}, folder="new"))
    assert diff(old, new) == []
