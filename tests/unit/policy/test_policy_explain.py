"""`explain_decision`: a decision and the subject of each rule it names, as `/v1/explain` and
`meshgate check` show them (with `everyone` and `except:` the matched subject is what an author needs)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import HEADER, WritePolicy
from meshgate.model import AccessRequest
from meshgate.policy import load_policy
from meshgate.policy.explain import Explanation, explain_decision
from meshgate.policy.loader import read_source
from meshgate.policy.resources import parse_resource
from meshgate.policy.testing import load_suites

from tests.support.naive import naive_decide

DLQ = "persistent://acme/orders/orders-payments-DLQ"
WORKLOAD = "spiffe://meshgate.test/ns/orders/sa/app"
PROCESSOR = "spiffe://meshgate.test/ns/orders/sa/dlq-processor"
ALICE = "oidc:https://sso.test#alice"
DLQ_GUARD = f"everyone except {PROCESSOR}, role:ops"  # the subject of only-the-processor-reads-dlqs

POLICY = (
    HEADER
    + f"""\
metadata: {{name: p}}
rules:
  - {{name: readers, effect: allow, subjects: [{{role: ops}}, {{everyone: spiffe}}, {{everyone: sso}}],
     actions: [read-messages], resources: [acme]}}
  - name: only-the-processor-reads-dlqs
    effect: deny
    subjects: [{{everyone: all}}]
    except: [{{spiffe: "{PROCESSOR}"}}, {{role: ops}}]
    actions: [read-messages]
    resources: ["persistent://acme/*/*-DLQ"]
  - name: own-tenant
    effect: allow
    subjects: [{{spiffe: "spiffe://meshgate.test/ns/{{ns}}/sa/*"}}, {{spiffe: "spiffe://other.test/ns/{{ns}}/sa/*"}}]
    actions: [produce]
    resources: ["persistent://{{ns}}-team/*/*"]
  - name: two-subjects-first-misses-the-resource
    effect: allow
    subjects: [{{spiffe: "spiffe://meshgate.test/ns/{{ns}}/sa/app"}}, {{spiffe: "spiffe://meshgate.test/ns/orders/sa/{{ns}}"}}]
    actions: [produce]
    resources: ["persistent://{{ns}}-team/*/*"]
"""
)
AUDIT = (
    HEADER
    + """\
metadata: {name: planned}
mode: audit
rules:
  - {name: planned-deny, effect: deny, subjects: [{everyone: spiffe}], except: [{spiffe: "spiffe://meshgate.test/ns/orders/sa/dlq-processor"}],
     actions: [read-messages], resources: ["acme/orders"]}
"""
)


@pytest.fixture
def folder(write_policy: WritePolicy) -> Path:
    return write_policy({"p.yaml": POLICY, "z-audit.yaml": AUDIT})


def _explain(folder: Path, principal: str, action: str, resource: str, **more: str) -> Explanation:
    snapshot = load_policy(folder, superusers={"broker"})
    request = AccessRequest(principal, action, parse_resource(resource), "sub", **more)  # type: ignore[arg-type]
    explained = explain_decision(snapshot, request)
    assert explained.decision == snapshot.decide(request) == naive_decide(snapshot, request)
    return explained


@pytest.mark.parametrize(
    ("principal", "issuer", "rule", "subject"),
    [
        (WORKLOAD, "", "p.yaml#only-the-processor-reads-dlqs", DLQ_GUARD),
        (ALICE, "https://sso.test", "p.yaml#only-the-processor-reads-dlqs", DLQ_GUARD),
        (PROCESSOR, "", "p.yaml#readers", "everyone:spiffe"),  # excepted from the deny: the allow decides
        ("ops", "", "p.yaml#readers", "role:ops"),
    ],
)  # fmt: skip
def test_the_subject_that_matched_the_deciding_rule_is_named(
    folder: Path, principal: str, issuer: str, rule: str, subject: str
) -> None:
    explained = _explain(folder, principal, "topic.consume", DLQ, issuer=issuer)
    assert (explained.decision.rule_id, explained.subject) == (rule, subject)


def test_a_capture_subject_is_named_as_written_and_the_first_that_covers_the_request(folder: Path) -> None:
    explained = _explain(
        folder, "spiffe://other.test/ns/orders/sa/x", "topic.produce", "persistent://orders-team/a/b"
    )
    assert explained.decision.rule_id == "p.yaml#own-tenant"
    assert explained.subject == "spiffe://other.test/ns/{ns}/sa/*"
    # The first subject matches the principal with ns=orders, and no resource with that capture; the
    # second matches it with ns=app and covers persistent://app-team/...: it is the one named.
    app = "spiffe://meshgate.test/ns/orders/sa/app"
    explained = _explain(folder, app, "topic.produce", "persistent://app-team/a/b")
    assert explained.decision.rule_id == "p.yaml#two-subjects-first-misses-the-resource"
    assert explained.subject == "spiffe://meshgate.test/ns/orders/sa/{ns}"


def test_audit_only_rules_name_their_subject_too(folder: Path) -> None:
    explained = _explain(folder, WORKLOAD, "topic.consume", "persistent://acme/orders/x")
    assert explained.decision.allowed and explained.subject == "everyone:spiffe"
    shadow = [(s.rule_id, s.would_allow) for s in explained.decision.shadow]
    assert shadow == [("z-audit.yaml#planned-deny", False)]
    assert explained.shadow_subjects == (f"everyone:spiffe except {PROCESSOR}",)


@pytest.mark.parametrize(
    ("principal", "action", "resource", "reason_code"),
    [
        ("broker", "topic.consume", DLQ, "superuser"),
        (WORKLOAD, "topic.teleport", DLQ, "unknown_action"),
        (WORKLOAD, "topic.consume", "persistent://acme/us-east/orders/x", "invalid_resource"),
        ("role-nobody-names", "topic.produce", "persistent://acme/orders/x", "no_matching_rule"),
    ],
)
def test_no_subject_when_no_rule_decided(
    folder: Path, principal: str, action: str, resource: str, reason_code: str
) -> None:
    explained = _explain(folder, principal, action, resource)
    assert explained.decision.reason_code == reason_code
    assert (explained.decision.rule_id, explained.subject, explained.shadow_subjects) == ("", "", ())


def test_every_decision_by_a_rule_names_a_subject_of_that_rule(examples: Path) -> None:
    """Over the examples' own test requests: a rule decided, so one of its subjects matched."""
    snapshot = load_policy(examples, superusers={"broker"})
    requests = [t.request for s in load_suites(read_source(examples)) for t in s.tests]
    assert len(requests) > 10
    by_id = {rule.id: rule for rule in snapshot.rules}
    for request in requests:
        explained = explain_decision(snapshot, request)
        named = [(explained.decision.rule_id, explained.subject)]
        named += zip((s.rule_id for s in explained.decision.shadow), explained.shadow_subjects, strict=True)
        for rule_id, subject in named:
            if rule_id:
                texts = {s.text for s in by_id[rule_id].subjects}
                assert subject.partition(" except ")[0] in texts, (request, rule_id, subject)
            else:
                assert subject == ""


def test_a_partition_is_explained_as_its_topic(folder: Path) -> None:
    explained = _explain(folder, WORKLOAD, "topic.consume", DLQ + "-partition-2")
    assert explained.subject == DLQ_GUARD
