"""Answers the broker plugin served itself: a malformed report is refused with the entry and field named,
a good one becomes `authorize` records of the usual shape plus `served_by` and `count`, and what is
reported and lost is counted."""

from __future__ import annotations

import json

import pytest
from meshgate.audit.events import Record
from meshgate.audit.log import AuditLog
from meshgate.audit.sinks import QueuedSink
from meshgate.errors import BadRequestError
from meshgate.principal.kinds import claimed_kind_problem
from meshgate.server.served import MAX_ENTRIES, MAX_TEXT, ServedLog, check_report, served_record
from meshgate.v1 import meshgate_pb2 as pb

from tests.support.audit_log import Recorder

WRITER = "spiffe://meshgate.test/ns/payments/sa/writer"
T0 = 1_767_268_800_000  # 2026-01-01T12:00:00Z


def entry(
    allowed: bool = True, served_by: str = "shim_cache", count: int = 1, **question: object
) -> pb.ServedDecision:
    fields: dict[str, object] = {
        "principal": WRITER,
        "action": "topic.produce",
        "resource": pb.Resource(
            tenant="acme", namespace="acme/payments", topic="persistent://acme/payments/t"
        ),
        "peer": pb.Peer(address="10.0.3.7:51234", auth_method="tls", transport="binary"),
        "credential_kind": "x509_svid",
        "broker_id": "standalone/127.0.0.1",
    } | question
    return pb.ServedDecision(
        question=pb.AuthorizeRequest(**fields),  # type: ignore[arg-type]
        decision=pb.Decision(
            allowed=allowed,
            rule_id="payments.yaml#writer-produces" if allowed else "",
            reason_code="allowed_by_rule" if allowed else "no_matching_rule",
            revision="sha256:r1",
            commit="3cc4291",
        ),
        served_by=served_by,
        count=count,
        first_at_unix_ms=T0,
        last_at_unix_ms=T0 + (2500 if count > 1 else 0),
    )


def refused(*entries: pb.ServedDecision) -> str:
    with pytest.raises(BadRequestError) as error:
        check_report(pb.ReportServedRequest(entries=entries))
    return error.value.message


def test_an_aggregated_allow_is_an_authorize_record_with_served_by_count_and_its_interval() -> None:
    record = served_record(entry(count=7), broker_id="ignored")
    assert record == {
        "time": "2026-01-01T12:00:00.000+00:00",
        "last_time": "2026-01-01T12:00:02.500+00:00",
        "event": "authorize",
        "principal": WRITER,
        "credential_kind": "x509_svid",
        "action": "topic.produce",
        "resource": {"tenant": "acme", "namespace": "acme/payments", "topic": "persistent://acme/payments/t"},
        "decision": "allow",
        "rule_id": "payments.yaml#writer-produces",
        "reason_code": "allowed_by_rule",
        "revision": "sha256:r1",
        "commit": "3cc4291",
        "broker_id": "standalone/127.0.0.1",
        "request_id": "",
        "peer": "10.0.3.7:51234",
        "served_by": "shim_cache",
        "count": 7,
    }


def test_an_entry_without_a_broker_takes_the_reports() -> None:
    record = served_record(entry(False, broker_id=""), broker_id="standalone/10.0.0.1")
    assert (record["broker_id"], record["decision"], record["count"]) == ("standalone/10.0.0.1", "deny", 1)
    assert "last_time" not in record


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (entry(served_by="guess"), "entries[0].served_by: 'guess' is not one of shim_cache, shim_inflight, "
         "stale_if_error, shim_superuser, shim_no_role, shim_error, shim_unproven_role"),
        (entry(False, count=3), "entries[0].count: 3; every deny is reported on its own (count 1)"),
        (entry(count=0), "entries[0].count: 0; must be between 1 and 1073741824"),
        (entry(True, served_by="shim_error"), "entries[0].decision.allowed: shim_error always serves a deny"),
        (entry(False, served_by="stale_if_error"),
         "entries[0].decision.allowed: stale_if_error always serves an allow"),
        (entry(credential=pb.Credential(token="header.payload.sig")),
         "entries[0].question.credential: a report never carries a credential"),
        (entry(principal=""), "entries[0].question.principal: required (only shim_no_role has none)"),
        (entry(action=""), "entries[0].question.action: required"),
        (entry(credential_kind="oidc"),
         "entries[0].question.credential_kind: auth method 'tls' carries linkerd_cert, x509_svid, not oidc"),
        (entry(credential_kind="token"),
         "entries[0].question.credential_kind: 'token' is not a credential kind meshgate verifies "
         "(x509_svid, linkerd_cert, l5d_header, oidc, k8s_sa_token, jwt_svid)"),
        (entry(subscription="s" * (MAX_TEXT + 1)),
         f"entries[0].question.subscription: {MAX_TEXT + 1} characters, at most {MAX_TEXT}"),
    ],
)  # fmt: skip
def test_a_malformed_entry_is_named_with_its_field(bad: pb.ServedDecision, message: str) -> None:
    assert refused(bad) == message


def test_times_and_revision_are_checked() -> None:
    late = entry()
    late.last_at_unix_ms = T0 - 1
    assert refused(entry(), late) == (
        f"entries[1].first_at_unix_ms/last_at_unix_ms: {T0}..{T0 - 1}; first must be a time (ms since the "
        "epoch) and last no earlier"
    )
    unrevisioned = entry()
    unrevisioned.decision.revision = ""
    assert refused(unrevisioned) == "entries[0].decision.revision: required for shim_cache"
    superuser = entry(served_by="shim_superuser")
    superuser.decision.revision = ""
    check_report(pb.ReportServedRequest(entries=[superuser]))  # the shim decided it: no revision


def test_a_reported_delegation_chain_is_kept_and_bounded() -> None:
    delegated = entry()
    delegated.decision.delegation.subject = "oidc:https://idp#alice"
    delegated.decision.delegation.actors.append(WRITER)
    chain = {"subject": "oidc:https://idp#alice", "actors": [WRITER]}
    assert served_record(delegated, "b")["delegation"] == chain
    delegated.decision.delegation.actors.extend([WRITER] * 16)
    assert refused(delegated) == "entries[0].decision.delegation.actors: 17, at most 16"


def test_a_report_is_bounded() -> None:
    assert refused(*[entry()] * (MAX_ENTRIES + 1)) == (
        f"entries: {MAX_ENTRIES + 1} in one report, at most {MAX_ENTRIES}; send the rest in another"
    )


def test_a_claimed_kind_must_fit_the_method_and_the_principal() -> None:
    assert claimed_kind_problem("x509_svid", "tls", WRITER) is None
    assert claimed_kind_problem("oidc", "token", "oidc:https://idp#alice") is None
    assert claimed_kind_problem("oidc", "token", WRITER) == (
        f"oidc credentials produce oidc:..., not '{WRITER}'"
    )
    assert claimed_kind_problem("role", "", "admin") is not None, "meshgate never verifies a plain role"
    assert claimed_kind_problem("jwt_svid", "other-provider", WRITER) is None


def test_served_log_writes_records_and_counts_reported_and_lost() -> None:
    sink_lines = Recorder()
    audit = AuditLog([QueuedSink("test", sink_lines, capacity=100)])
    served = ServedLog(audit)
    report = pb.ReportServedRequest(entries=[entry(count=5), entry(False)], dropped=3, broker_id="b")
    assert served.record(report) == 2
    with pytest.raises(BadRequestError):
        served.record(pb.ReportServedRequest(entries=[entry(count=4), entry(served_by="guess")]))
    audit.close()
    stats = served.stats()
    assert stats.reported == {"shim_cache": 6}
    assert (stats.dropped_by_shims, stats.refused) == (3, 5)
    records: list[Record] = [json.loads(line) for line in sink_lines.lines]
    assert [(r["decision"], r["count"], r["served_by"]) for r in records] == [
        ("allow", 5, "shim_cache"),
        ("deny", 1, "shim_cache"),
    ]


def test_allow_sampling_applies_and_denials_are_always_written() -> None:
    sink_lines = Recorder()
    audit = AuditLog([QueuedSink("test", sink_lines, capacity=100)], allow_sample_rate=0.0)
    assert ServedLog(audit).record(pb.ReportServedRequest(entries=[entry(), entry(False)])) == 1
    audit.close()
    assert len(sink_lines.lines) == 1 and '"decision":"deny"' in sink_lines.lines[0]
