"""`everyone` subjects (all principals, or all of one credential kind) and `except:` on a rule: "deny
everyone except the DLQ processor" is one rule. Configured super-users stay outside every rule."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import HEADER, WritePolicy
from meshgate.errors import PolicyError
from meshgate.model import AccessRequest, Resource
from meshgate.policy import load_policy
from meshgate.policy.diff import diff
from meshgate.policy.lint import lint
from meshgate.policy.loader import compile_source, read_source
from meshgate.report.matrix import build_matrix

from tests.support.naive import naive_decide

DLQ = Resource(tenant="acme", namespace="acme/orders", topic="persistent://acme/orders/orders-payments-DLQ")
WORKLOAD = "spiffe://meshgate.test/ns/orders/sa/app"
PROCESSOR = "spiffe://meshgate.test/ns/orders/sa/dlq-processor"


def _policy(rules: str) -> str:
    return HEADER + "metadata: {name: p}\nrules:\n" + rules


GUARD = _policy(
    f"""\
  - {{name: readers, effect: allow, subjects: [{{everyone: spiffe}}, {{role: ops}}, {{everyone: sso}}],
     actions: [read-messages], resources: [acme]}}
  - name: only-the-processor-reads-dlqs
    effect: deny
    subjects: [{{everyone: all}}]
    except: [{{spiffe: "{PROCESSOR}"}}]
    actions: [read-messages]
    resources: ["persistent://acme/*/*-DLQ"]
"""
)


def _decide(folder: Path, principal: str, action: str = "topic.consume", **more: str) -> tuple[bool, str]:
    snapshot = load_policy(folder, superusers={"broker"})
    request = AccessRequest(principal, action, DLQ, "sub", **more)  # type: ignore[arg-type]
    decision = snapshot.decide(request)
    assert decision == naive_decide(snapshot, request)
    return decision.allowed, decision.reason_code


@pytest.mark.parametrize(
    ("principal", "issuer", "expected"),
    [
        (WORKLOAD, "", (False, "denied_by_rule")),
        ("ops", "", (False, "denied_by_rule")),
        ("oidc:https://sso.test#alice", "https://sso.test", (False, "denied_by_rule")),
        ("some-role-nobody-listed", "", (False, "denied_by_rule")),
        (PROCESSOR, "", (True, "allowed_by_rule")),
        ("broker", "", (True, "superuser")),  # configuration, never policy: no rule reaches it
    ],
)
def test_deny_everyone_except_the_dlq_processor_is_one_rule(
    write_policy: WritePolicy, principal: str, issuer: str, expected: tuple[bool, str]
) -> None:
    """On the old code `everyone` and `except` are unknown keys: the policy does not load."""
    folder = write_policy({"p.yaml": GUARD})
    for action in ("topic.consume", "topic.peek_messages", "topic.subscribe"):
        assert _decide(folder, principal, action, issuer=issuer) == expected


@pytest.mark.parametrize(
    ("kind", "matches"),
    [
        ("all", [WORKLOAD, "oidc:https://sso.test#a", "plain-role", "SPIFFE://td/x"]),
        ("spiffe", [WORKLOAD, "SPIFFE://td/x"]),
        ("sso", ["oidc:https://sso.test#a"]),
        ("role", ["plain-role"]),
    ],
)
def test_everyone_of_one_kind(write_policy: WritePolicy, kind: str, matches: list[str]) -> None:
    subjects = f"[{{everyone: {kind}}}]"
    rule = f"  - {{name: r, effect: allow, subjects: {subjects}, actions: [view], resources: [acme]}}\n"
    snapshot = load_policy(write_policy({"p.yaml": _policy(rule)}))
    for principal in [WORKLOAD, "oidc:https://sso.test#a", "plain-role", "SPIFFE://td/x", ""]:
        request = AccessRequest(principal, "topic.lookup", DLQ)
        assert snapshot.decide(request).allowed == (principal in matches), principal


@pytest.mark.parametrize(
    ("subjects", "excepted", "message"),
    [
        (
            "[{everyone: spiffe}]",
            "[{role: ops}]",
            "p.yaml:8: rule 'p.yaml#r' excepts 'role:ops', which can never be one of its subjects (every "
            "SPIFFE workload): a plain role is never one of them; except only subjects of the same kind, or "
            "give that principal a rule of its own",
        ),
        (
            "[{oidc: {issuer: 'https://sso.test'}}]",
            f"[{{spiffe: '{PROCESSOR}'}}]",
            f"p.yaml:8: rule 'p.yaml#r' excepts '{PROCESSOR}', which can never be one of its subjects "
            "(oidc:https://sso.test): a SPIFFE principal is never one of them; except only subjects of the "
            "same kind, or give that principal a rule of its own",
        ),
        ("[{everyone: all}]", "[{everyone: sso}]", "p.yaml:8: 'everyone:sso' cannot be an exception"),
        (
            "[{everyone: all}]",
            "[{spiffe: 'spiffe://td/ns/{ns}/sa/x'}]",
            "p.yaml:8: 'spiffe://td/ns/{ns}/sa/x': an exception cannot capture",
        ),
    ],
)
def test_an_exception_that_can_except_no_one_is_an_error(
    write_policy: WritePolicy, subjects: str, excepted: str, message: str
) -> None:
    rule = (
        f"  - name: r\n    effect: deny\n    subjects: {subjects}\n    except: {excepted}\n"
        "    actions: [read-messages]\n    resources: [acme]\n"
    )
    with pytest.raises(PolicyError) as info:
        load_policy(write_policy({"p.yaml": _policy(rule)}))
    assert message in info.value.message


def test_who_can_diff_and_report_show_the_exceptions(write_policy: WritePolicy) -> None:
    folder = write_policy({"p.yaml": GUARD})
    snapshot = load_policy(folder)
    grantees = snapshot.who_can("topic.consume", DLQ, "sub")
    assert any(g.subject == f"everyone except {PROCESSOR}" and g.effect == "deny" for g in grantees), grantees
    empty = write_policy(
        {
            "p.yaml": _policy(
                "  - {name: x, effect: allow, subjects: [{role: a}], actions: [view], resources: [acme]}\n"
            )
        },
        folder="old",
    )
    lines = diff(load_policy(empty), snapshot)
    assert (
        f"- everyone except {PROCESSOR} → topic.consume → persistent://acme/*/*-DLQ  (new deny, "
        "p.yaml#only-the-processor-reads-dlqs)" in lines
    )
    rows = {(row.subject, row.resource) for row in build_matrix(snapshot).rows}
    assert (f"everyone except {PROCESSOR}", "persistent://acme/*/*-DLQ") in rows
    assert ("everyone:spiffe", "acme") in rows


def test_validate_warns_about_an_allow_to_everyone_on_everything(write_policy: WritePolicy) -> None:
    folder = write_policy(
        {
            "p.yaml": _policy(
                "  - {name: all, effect: allow, subjects: [{everyone: all}], actions: [view],\n"
                "     resources: ['*']}\n"
                "  - {name: o, effect: allow, subjects: [{everyone: sso}], actions: [view], resources: [a]}\n"
            )
        }
    )
    source = read_source(folder)
    assert lint(source.documents(tests=False)[0], compile_source(source).rules) == [
        "p.yaml:5: allow rule 'p.yaml#all' lets every principal (everyone) do 80 action(s) on every "
        "tenant, namespace, topic and cluster: whoever gets any credential of that kind accepted gets "
        "them; name the tenants or namespaces in `resources`, or name the subjects"
    ]
