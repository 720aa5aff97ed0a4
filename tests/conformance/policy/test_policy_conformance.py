"""Every case of cases.yaml against the policy engine in-process; the gRPC runner reuses `iter_cases`."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
from meshgate.policy import PolicySnapshot, load_policy

from tests.support.naive import naive_decide

from .build import Case, expected_shadow, iter_cases

CASES = list(iter_cases())
SHADOW = expected_shadow()


@cache
def snapshot(policy_dir: Path, superusers: tuple[str, ...]) -> PolicySnapshot:
    return load_policy(policy_dir, superusers=superusers)


def test_table_is_large_and_ids_are_unique() -> None:
    ids = [case.case_id for case in CASES]
    assert len(ids) >= 60
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.case_id)
def test_case(case: Case) -> None:
    decision = snapshot(case.policy_dir, case.superusers).decide(case.request)
    got = (decision.allowed, decision.reason_code)
    assert got == (case.allowed, case.reason_code), decision.reason
    if case.rule_id is not None:
        assert decision.rule_id == case.rule_id, decision.reason
    assert decision.shadow == SHADOW[case.case_id]
    assert decision.reason and decision.revision


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.case_id)
def test_naive_evaluator_agrees(case: Case) -> None:
    snap = snapshot(case.policy_dir, case.superusers)
    assert naive_decide(snap, case.request) == snap.decide(case.request)
