"""Intent verbs (`read-messages`, `write-messages`, `inspect`, `configure`, `administer`): a deny of an
intent closes every operation that serves it, whatever allow would grant it; an allow also gets what the
intent needs."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import HEADER, WritePolicy
from meshgate.model import AccessRequest, Resource
from meshgate.policy import load_policy
from meshgate.policy.actions import ACTIONS, GRANTS, INTENT_ACTIONS, expand_pattern
from meshgate.policy.lint import lint
from meshgate.policy.loader import compile_source, read_source
from meshgate.policy.operations import INTENTS

DLQ = "persistent://acme/orders/orders-payments-DLQ"
TOPIC = Resource(tenant="acme", namespace="acme/orders", topic=DLQ)


def _policy(rules: str) -> str:
    return HEADER + "metadata: {name: p}\nrules:\n" + rules


GUARD = _policy(
    """\
  - {name: admins, effect: allow, subjects: [{role: ops}], actions: [tenant-admin], resources: [acme]}
  - {name: writer, effect: allow, subjects: [{role: ops}, {role: app}], actions: [write-messages],
     resources: ["persistent://acme/orders/*"]}
  - {name: dlq-reader, effect: allow, subjects: [{role: dlq}], actions: [read-messages], resources: [acme]}
  - {name: no-dlq-reads, effect: deny, subjects: [{role: ops}, {role: app}], actions: [read-messages],
     resources: ["persistent://acme/orders/*-DLQ"]}
"""
)


def _decide(folder: Path, principal: str, action: str, subscription: str = "") -> tuple[bool, str]:
    decision = load_policy(folder).decide(AccessRequest(principal, action, TOPIC, subscription))
    return decision.allowed, decision.reason_code


@pytest.mark.parametrize(
    "action", ["topic.consume", "topic.subscribe", "topic.peek_messages"], ids=lambda a: a.split(".")[1]
)
def test_a_denied_intent_closes_every_operation_a_tenant_admin_grant_would_allow(
    write_policy: WritePolicy, action: str
) -> None:
    """On the old code `read-messages` is an unknown action (the policy does not load); a deny of
    `topic.consume` alone left peek (examine, get by id) to the tenant admin."""
    folder = write_policy({"p.yaml": GUARD})
    assert _decide(folder, "ops", action, "s") == (False, "denied_by_rule")
    assert _decide(folder, "ops", action) == (False, "denied_by_rule")
    assert _decide(folder, "dlq", action, "s") == (True, "allowed_by_rule")


def test_a_denied_read_still_lets_writers_look_the_topic_up(write_policy: WritePolicy) -> None:
    folder = write_policy({"p.yaml": GUARD})
    assert _decide(folder, "app", "topic.lookup") == (True, "allowed_by_rule")
    assert _decide(folder, "app", "topic.produce") == (True, "allowed_by_rule")
    assert _decide(folder, "app", "topic.consume", "s") == (False, "denied_by_rule")


def test_allow_includes_what_the_intent_needs_and_deny_does_not() -> None:
    assert expand_pattern("read-messages") == {
        "topic.consume", "topic.subscribe", "topic.peek_messages", "topic.lookup",
    }  # fmt: skip
    assert expand_pattern("read-messages", grants=True) == {
        "topic.consume", "topic.subscribe", "topic.peek_messages",
    }  # fmt: skip
    assert expand_pattern("write-messages") == {"topic.produce", "topic.lookup"}
    assert expand_pattern("write-messages", grants=True) == {"topic.produce"}


def test_administer_never_grants_superuser_or_tenant_admin_but_denies_them() -> None:
    assert not expand_pattern("administer") & GRANTS
    assert expand_pattern("administer", grants=True) >= GRANTS


def test_intents_partition_the_action_table() -> None:
    seen: list[str] = []
    for intent in INTENTS:
        seen += INTENT_ACTIONS[intent]
    assert sorted(seen) == sorted(ACTIONS)


def test_a_deny_of_read_messages_may_be_narrowed_to_subscriptions(write_policy: WritePolicy) -> None:
    folder = write_policy(
        {
            "p.yaml": _policy(
                """\
  - {name: r, effect: allow, subjects: [{role: app}], actions: [read-messages], resources: [acme]}
  - {name: q, effect: deny, subjects: [{role: app}], actions: [read-messages], resources: [acme],
     subscriptions: ["quarantine-*"]}
"""
            )
        }
    )
    assert _decide(folder, "app", "topic.consume", "quarantine-1") == (False, "denied_by_rule")
    assert _decide(folder, "app", "topic.consume", "work") == (True, "allowed_by_rule")
    assert _decide(folder, "app", "topic.lookup") == (True, "allowed_by_rule")


def _warnings(folder: Path) -> list[str]:
    source = read_source(folder)
    return lint(source.documents(tests=False)[0], compile_source(source).rules)


def test_validate_warns_about_raw_actions_mixed_with_intents(write_policy: WritePolicy) -> None:
    folder = write_policy(
        {
            "p.yaml": _policy(
                """\
  - name: d
    effect: deny
    subjects: [{role: app}]
    actions: [read-messages, topic.lookup, topic.peek_messages, topic.produce]
    resources: [acme]
  - name: a
    effect: allow
    subjects: [{role: app}]
    actions: [write-messages, topic.lookup, administer]
    resources: ["*"]
"""
            )
        }
    )
    assert _warnings(folder) == [
        "p.yaml:8: deny rule 'p.yaml#d' lists 'topic.lookup' next to read-messages, but topic.lookup is not "
        "part of read-messages: an allow of read-messages includes it because read-messages cannot work "
        "without it, and other intents need it too, so this deny also stops them; remove 'topic.lookup' "
        "(read-messages already denies every operation that serves it)",
        "p.yaml:8: 'topic.peek_messages' in rule 'p.yaml#d' is already part of read-messages; remove it",
        "p.yaml:13: 'administer' in allow rule 'p.yaml#a' does not grant superuser: an intent never grants "
        "it, because a super-user skips explicit denies; if its subjects must be super-users, add a rule "
        'with `actions: [superuser]` and `resources: ["*"]`',
        "p.yaml:13: 'administer' in allow rule 'p.yaml#a' does not grant tenant.admin: an intent never "
        "grants it, because a tenant admin skips explicit denies; if its subjects must be tenant admins of "
        "every tenant, add `tenant.admin` (or the `tenant-admin` verb) to its actions",
        "p.yaml:13: 'topic.lookup' in rule 'p.yaml#a' is already part of write-messages; remove it",
    ]


def test_validate_says_when_pulsar_skips_the_question_for_a_denied_intent(write_policy: WritePolicy) -> None:
    """A tenant admin runs functions without Pulsar asking: a deny of `administer` cannot stop that."""
    folder = write_policy(
        {
            "p.yaml": _policy(
                """\
  - {name: admins, effect: allow, subjects: [{role: ops}], actions: [tenant-admin], resources: [acme]}
  - {name: no-admin, effect: deny, subjects: [{role: ops}], actions: [administer], resources: [acme/x]}
"""
            )
        }
    )
    (warning,) = _warnings(folder)
    assert warning.startswith(
        "p.yaml:6: deny rule 'p.yaml#no-admin' never runs for role:ops where rule 'p.yaml#admins' "
        "(p.yaml:5) makes it tenant admin of acme: Pulsar lets a tenant admin do namespace.functions, "
    )


def intent_rows() -> list[str]:
    """The intent table of docs/policy.md, as it must read: each intent, the operations that serve it
    (policy families shortened to `<family>.*.read|write`), what an allow adds."""
    from meshgate.policy.operations import NEEDS

    rows = []
    for intent in INTENTS:
        names: list[str] = []
        for action in ACTIONS:
            if action not in INTENT_ACTIONS[intent]:
                continue
            family, _, rest = action.partition(".")
            short = f"{family}.*.{rest.rpartition('.')[2]}" if family.endswith("_policy") else action
            if short not in names:
                names.append(short)
        needs = ", ".join(f"`{n}`" for n in NEEDS.get(intent, ())) or "—"
        rows.append(f"| `{intent}` | {', '.join(f'`{n}`' for n in names)} | {needs} |")
    return rows


def test_docs_list_every_intent_with_its_operations() -> None:
    docs = (Path(__file__).resolve().parents[3] / "docs" / "policy.md").read_text("utf-8")
    missing = [row for row in intent_rows() if row not in docs]
    assert missing == [], "docs/policy.md: intent table out of date:\n" + "\n".join(missing)
