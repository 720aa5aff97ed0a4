"""Policy over delegation chains (issue #18 item 3): `everyone: agents`, `oidc` subjects with a `principal`
and AND-ed `claims` (the person an agent acts for as `subject.<claim>`, the chain as `delegation.subject` /
`delegation.actors`), load errors with file:line for bad uses, and the chain in explanations, `who-can` and
the access report. The decision table itself is tests/conformance/policy (agents.yaml)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import HEADER, WritePolicy
from meshgate.errors import PolicyError
from meshgate.model import AccessRequest, Delegation, Resource
from meshgate.policy import load_policy
from meshgate.report.matrix import build_matrix

from tests.support.naive import naive_decide

SSO = "https://sso.test"
BOT, ALICE = f"oidc:{SSO}#deploy-bot", f"oidc:{SSO}#alice"
PAYMENTS = Resource(tenant="acme", namespace="acme/payments")

POLICY = (
    HEADER
    + f"""metadata: {{name: agents}}
rules:
  - name: deploy-bot-for-payments-admins
    effect: allow
    subjects:
      - oidc: {{issuer: "{SSO}", principal: "{BOT}", claims: {{subject.groups: [payments-admins]}}}}
    actions: [namespace_policy.retention.write]
    resources: [acme/payments]
  - name: deploy-bot-itself
    effect: allow
    subjects: [{{role: "{BOT}"}}]
    actions: [namespace.delete_topic]
    resources: [acme/payments]
  - name: no-agent-deletes-topics
    effect: deny
    subjects: [{{everyone: agents}}]
    actions: [namespace.delete_topic]
    resources: ["*"]
  - name: oncall-agents-read
    effect: allow
    subjects: [{{oidc: {{issuer: "{SSO}", claims: {{groups: [bots], subject.groups: [oncall]}}}}}}]
    actions: [topic.lookup]
    resources: [acme]
  - name: every-agent-may-look
    effect: allow
    subjects: [{{everyone: agents}}]
    actions: [topic.get_stats]
    resources: [acme]
"""
)


def _attributes(chain: Delegation | None, **claims: list[str]) -> dict[str, tuple[str, ...]]:
    out = {name.replace("__", "."): tuple(values) for name, values in claims.items()}
    return {**out, **(chain.attributes() if chain else {})}


def _decide(
    folder: Path, action: str, *, issuer: str = SSO, chain: Delegation | None = None, **claims: list[str]
) -> tuple[bool, str, str]:
    snapshot = load_policy(folder)
    request = AccessRequest(BOT, action, PAYMENTS, issuer=issuer, attributes=_attributes(chain, **claims))
    decision = snapshot.decide(request)
    assert decision == naive_decide(snapshot, request)
    return decision.allowed, decision.rule_id.partition("#")[2], decision.reason


FOR_ALICE = Delegation(ALICE, (BOT,))


def test_the_bot_changes_retention_only_when_acting_for_an_admin(write_policy: WritePolicy) -> None:
    folder = write_policy({"agents.yaml": POLICY})
    action = "namespace_policy.retention.write"
    allowed = _decide(folder, action, chain=FOR_ALICE, subject__groups=["payments-admins"])
    assert allowed[:2] == (True, "deploy-bot-for-payments-admins")
    assert _decide(folder, action, chain=FOR_ALICE, subject__groups=["dev"])[:2] == (False, "")
    assert _decide(folder, action, groups=["payments-admins"])[:2] == (False, "")  # as itself


def test_no_agent_deletes_even_where_the_bot_itself_may(write_policy: WritePolicy) -> None:
    folder = write_policy({"agents.yaml": POLICY})
    assert _decide(folder, "namespace.delete_topic")[:2] == (True, "deploy-bot-itself")
    denied = _decide(folder, "namespace.delete_topic", chain=FOR_ALICE)
    assert denied[:2] == (False, "no-agent-deletes-topics")
    assert denied[2].startswith(
        f"rule agents.yaml#no-agent-deletes-topics denies {BOT!r} (acting for {ALICE!r})"
    )


def test_a_deny_for_agents_holds_when_the_broker_sends_no_verified_token(write_policy: WritePolicy) -> None:
    """Without the token (a proxy that does not forward it) the call may be an agent's: the deny applies."""
    folder = write_policy({"agents.yaml": POLICY})
    assert _decide(folder, "namespace.delete_topic", issuer="")[:2] == (False, "no-agent-deletes-topics")


def test_an_allow_for_agents_needs_a_verified_chain(write_policy: WritePolicy) -> None:
    folder = write_policy({"agents.yaml": POLICY})
    assert _decide(folder, "topic.get_stats", chain=FOR_ALICE)[:2] == (True, "every-agent-may-look")
    assert _decide(folder, "topic.get_stats")[:2] == (False, "")
    assert _decide(folder, "topic.get_stats", issuer="")[:2] == (False, "")


def test_claim_conditions_on_one_subject_all_hold(write_policy: WritePolicy) -> None:
    folder = write_policy({"agents.yaml": POLICY})
    both = _decide(folder, "topic.lookup", chain=FOR_ALICE, groups=["bots"], subject__groups=["oncall"])
    assert both[:2] == (True, "oncall-agents-read")
    assert _decide(folder, "topic.lookup", chain=FOR_ALICE, groups=["bots"])[:2] == (False, "")
    assert _decide(folder, "topic.lookup", chain=FOR_ALICE, subject__groups=["oncall"])[:2] == (False, "")


def test_who_can_and_the_report_spell_out_who_an_agent_acts_for(write_policy: WritePolicy) -> None:
    snapshot = load_policy(write_policy({"agents.yaml": POLICY}))
    grantees = snapshot.who_can("namespace_policy.retention.write", "acme/payments")
    assert [g.subject for g in grantees] == [f"{BOT} acting for [groups=payments-admins]"]
    rows = {row.subject for row in build_matrix(snapshot).rows}
    assert f"oidc:{SSO}[groups=bots] acting for [groups=oncall]" in rows
    assert "everyone:agents" in rows


@pytest.mark.parametrize(
    ("subject", "error"),
    [
        (
            '{oidc: {issuer: "https://sso.test", claims: {delegation.chain: [x]}}}',
            "claim 'delegation.chain': a delegated call has delegation.subject (the person an agent acts "
            "for) and delegation.actors (every actor, the caller first), no other claim starts with "
            "'delegation.'",
        ),
        (
            '{oidc: {issuer: "https://sso.test", claims: {subject.: [x]}}}',
            "claim 'subject.': subject.<claim> names a claim of the person an agent acts for, e.g. "
            "subject.groups",
        ),
        (
            '{oidc: {issuer: "https://sso.test", claims: {subject.delegation.actors: [x]}}}',
            "claim 'subject.delegation.actors': subject.<claim> names a claim of the person an agent acts "
            "for, e.g. subject.groups",
        ),
        (
            '{oidc: {issuer: "https://sso.test", claim: groups, values: [a], claims: {roles: [b]}}}',
            "an oidc subject has either claim/values (one claim) or claims (several), not both: move "
            "'groups' into claims",
        ),
        (
            '{oidc: {issuer: "https://sso.test", principal: "spiffe://td/ns/a/sa/b"}}',
            "principal 'spiffe://td/ns/a/sa/b' of an oidc subject is not an SSO principal (oidc:...): name "
            "workloads with spiffe: or linkerd:, plain roles with role:",
        ),
    ],
    ids=[
        "unknown-delegation-name",
        "empty-subject-claim",
        "reserved-under-subject",
        "claim-and-claims",
        "workload-principal",
    ],
)
def test_bad_uses_are_load_errors_with_file_and_line(
    write_policy: WritePolicy, subject: str, error: str
) -> None:
    rule = f"  - {{name: r, effect: allow, subjects: [{subject}], actions: [produce], resources: [acme]}}\n"
    folder = write_policy({"bad.yaml": HEADER + "metadata: {name: bad}\nrules:\n" + rule})
    with pytest.raises(PolicyError) as caught:
        load_policy(folder)
    assert f"bad.yaml:5: {error}" in caught.value.message.splitlines()


def test_agents_cannot_be_an_exception(write_policy: WritePolicy) -> None:
    rule = (
        "  - {name: r, effect: deny, subjects: [{everyone: sso}], except: [{everyone: agents}],"
        " actions: [produce], resources: [acme]}\n"
    )
    folder = write_policy({"bad.yaml": HEADER + "metadata: {name: bad}\nrules:\n" + rule})
    with pytest.raises(PolicyError) as caught:
        load_policy(folder)
    assert (
        "bad.yaml:5: 'everyone:agents' cannot be an exception: list who is excepted by name"
        in caught.value.message
    )
