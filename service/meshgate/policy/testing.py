"""Policy test suites (`*_test.yaml`, kind PolicyTestSuite) that live next to the policies.

Each test is a request and the expected answer; `run_suites` evaluates them against a snapshot,
with the suite's own super-users, so results never depend on how the server is configured.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from meshgate.errors import MeshgateError, PolicyError
from meshgate.model import AccessRequest, Decision
from meshgate.policy.engine import PolicySnapshot
from meshgate.policy.loader import PolicySource
from meshgate.policy.resources import parse_resource
from meshgate.policy.yamlsrc import SourceDoc


@dataclass(frozen=True, slots=True)
class PolicyTest:
    name: str
    where: str  # file:line
    request: AccessRequest
    expect_allow: bool
    rule: str | None = None
    reason_code: str | None = None

    def failure(self, decision: Decision) -> str:
        """Why `decision` does not meet the expectation, or "" when it does."""
        problems = []
        if decision.allowed != self.expect_allow:
            problems.append(f"expected {'allow' if self.expect_allow else 'deny'}")
        if self.rule is not None and decision.rule_id != self.rule:
            problems.append(f"expected rule {self.rule!r}")
        if self.reason_code is not None and decision.reason_code != self.reason_code:
            problems.append(f"expected reason {self.reason_code}")
        if not problems:
            return ""
        got = (
            f"{'allow' if decision.allowed else 'deny'} by {decision.rule_id or '-'} ({decision.reason_code})"
        )
        return f"{', '.join(problems)}; got {got}: {decision.reason}"


@dataclass(frozen=True, slots=True)
class PolicyTestSuite:
    name: str
    file: str
    superusers: frozenset[str]
    tests: tuple[PolicyTest, ...]


@dataclass(frozen=True, slots=True)
class TestResult:
    suite: str
    test: PolicyTest
    decision: Decision
    failure: str  # "" when passed

    @property
    def passed(self) -> bool:
        return not self.failure


@dataclass(frozen=True, slots=True)
class TestReport:
    results: tuple[TestResult, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.results)

    @property
    def failed(self) -> int:
        return len(self.results) - self.passed

    @property
    def ok(self) -> bool:
        return self.failed == 0


def _test(doc: SourceDoc, index: int, raw: dict[str, Any]) -> PolicyTest:
    where = doc.where(("tests", index))
    try:
        resource = parse_resource(raw.get("resource", ""))
    except MeshgateError as exc:
        raise PolicyError(f"{doc.where(('tests', index, 'resource'))}: {exc.message}") from exc
    claims = {k: tuple(v) for k, v in raw.get("claims", {}).items()}
    request = AccessRequest(
        raw["principal"], raw["action"], resource, raw.get("subscription", ""), raw.get("issuer", ""), claims
    )
    return PolicyTest(
        raw["name"], where, request, raw["expect"] == "allow", raw.get("rule"), raw.get("reasonCode")
    )


def load_suites(source: PolicySource) -> list[PolicyTestSuite]:
    """Every test suite of the folder; raise PolicyError listing every problem."""
    docs, errors = source.documents(tests=True)
    suites = []
    for doc in docs:
        tests = []
        for index, raw in enumerate(doc.data["tests"]):
            try:
                tests.append(_test(doc, index, raw))
            except PolicyError as exc:
                errors.append(exc.message)
        superusers = frozenset(doc.data.get("superusers", ()))
        suites.append(PolicyTestSuite(doc.data["metadata"]["name"], doc.file, superusers, tuple(tests)))
    if errors:
        raise PolicyError(f"{len(errors)} error(s) in policy test suites:\n" + "\n".join(errors))
    return suites


def run_suites(snapshot: PolicySnapshot, suites: Iterable[PolicyTestSuite]) -> TestReport:
    results = []
    for suite in suites:
        suite_snapshot = snapshot.with_superusers(suite.superusers)
        for test in suite.tests:
            decision = suite_snapshot.decide(test.request)
            results.append(TestResult(suite.name, test, decision, test.failure(decision)))
    return TestReport(tuple(results))
