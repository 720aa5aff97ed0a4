"""Who did this, really (issue #18 item 3): a decision or login for an agent acting on behalf of someone
carries the whole delegation chain on the wire and in its audit record; others carry none. The chain is the
vouched caller's only: a credential for another principal lends none."""

from __future__ import annotations

from datetime import UTC, datetime

from meshgate.audit.evidence import csv_row
from meshgate.audit.query import AuditFilter
from meshgate.model import CredentialKind, Decision, Delegation, Identity
from meshgate.server import wire as convert
from meshgate.server.wire import authentication_record, decision_record
from meshgate.v1 import meshgate_pb2 as pb

AT = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
BOT, ALICE, CI = "oidc:https://sso#deploy-bot", "oidc:https://sso#alice", "oidc:https://ci#orchestrator"
CHAIN = Delegation(ALICE, (BOT, CI))
AGENT = Identity(BOT, CredentialKind.OIDC, issuer="https://sso", delegation=CHAIN)
DECISION = Decision(False, "a.yaml#no-agent-deletes", "denied_by_rule", "denied", "rev1")


def _ask(principal: str = BOT) -> pb.AuthorizeRequest:
    return pb.AuthorizeRequest(principal=principal, action="namespace.delete_topic", request_id="r1")


def test_a_delegated_login_answers_and_records_the_chain() -> None:
    answer = convert.identity_to_pb(AGENT)
    assert answer.identity.delegation == pb.Delegation(subject=ALICE, actors=[BOT, CI])
    record = authentication_record(AT, pb.AuthenticateRequest(request_id="r0"), answer)
    assert record["principal"] == BOT
    assert record["delegation"] == {"subject": ALICE, "actors": [BOT, CI]}


def test_a_decision_for_an_agent_carries_the_chain_into_its_record() -> None:
    request = _ask()
    answer = convert.decision_to_pb(DECISION, "c0ffee", convert.delegation_for(request, AGENT))
    record = decision_record(AT, request, answer)
    assert record["delegation"] == {"subject": ALICE, "actors": [BOT, CI]}
    assert (record["principal"], record["decision"]) == (BOT, "deny")


def test_direct_calls_and_other_principals_carry_no_chain() -> None:
    direct = Identity(BOT, CredentialKind.OIDC, issuer="https://sso")
    assert "delegation" not in authentication_record(
        AT, pb.AuthenticateRequest(), convert.identity_to_pb(direct)
    )
    assert convert.delegation_for(_ask(), direct) is None
    assert convert.delegation_for(_ask("oidc:https://sso#someone-else"), AGENT) is None
    answer = convert.decision_to_pb(DECISION, "", None)
    assert not answer.HasField("delegation")
    assert "delegation" not in decision_record(AT, _ask(), answer)


def test_the_trail_answers_what_agents_did_for_someone() -> None:
    answer = convert.decision_to_pb(DECISION, "", CHAIN)
    record = decision_record(AT, _ask(), answer)
    direct = decision_record(AT, _ask(), convert.decision_to_pb(DECISION))
    for_alice = AuditFilter(acting_for="*#alice")
    assert for_alice.matches(record, AT)
    assert not for_alice.matches(direct, AT)
    assert not AuditFilter(acting_for=BOT).matches(record, AT)
    assert for_alice.as_json() == {"acting_for": "*#alice"}


def test_the_evidence_spreadsheet_names_the_person_and_the_actors() -> None:
    record = decision_record(AT, _ask(), convert.decision_to_pb(DECISION, "", CHAIN))
    row = csv_row(record)
    assert (row["principal"], row["acting_for"], row["actors"]) == (BOT, ALICE, f"{BOT}, {CI}")
    direct = csv_row(decision_record(AT, _ask(), convert.decision_to_pb(DECISION)))
    assert (direct["acting_for"], direct["actors"]) == ("", "")
