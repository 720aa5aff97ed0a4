"""Evaluation semantics: default deny, deny overrides, rule order, shadow rules, super-users, who-can."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import HEADER, WritePolicy
from meshgate.model import AccessRequest, Resource, ShadowEffect
from meshgate.policy import Grantee, PolicySnapshot, load_policy
from meshgate.policy.resources import parse_resource

POLICY = (
    HEADER
    + """\
metadata: {name: p}
rules:
  - name: deny-secret
    effect: deny
    subjects: [{spiffe: "spiffe://td/ns/*/sa/*"}]
    actions: [topic.produce]
    resources: ["persistent://acme/*/secret"]
  - name: allow-produce
    effect: allow
    subjects: [{spiffe: "spiffe://td/ns/{ns}/sa/writer"}]
    actions: [produce]
    resources: ["persistent://acme/{ns}/*"]
  - name: allow-produce-again
    effect: allow
    subjects: [{role: app}, {spiffe: spiffe://td/ns/shop/sa/writer}]
    actions: [topic.produce]
    resources: [acme]
  - name: audit-deny
    mode: audit
    effect: deny
    subjects: [{role: app}]
    actions: [topic.produce]
    resources: ["persistent://acme/shop/*"]
  - name: sub-reader
    effect: allow
    subjects: [{spiffe: "spiffe://td/ns/{ns}/sa/{sa}"}]
    actions: [consume]
    resources: ["persistent://acme/{ns}/*"]
    subscriptions: ["{sa}-*", "shared"]
"""
)


@pytest.fixture
def snapshot(write_policy: WritePolicy) -> PolicySnapshot:
    return load_policy(write_policy({"p.yaml": POLICY}), superusers=["root"])


def ask(
    snapshot: PolicySnapshot, principal: str, action: str, resource: str, subscription: str = ""
) -> tuple[bool, str, str]:
    decision = snapshot.decide(AccessRequest(principal, action, parse_resource(resource), subscription))
    return decision.allowed, decision.reason_code, decision.rule_id


WRITER = "spiffe://td/ns/shop/sa/writer"


def test_first_allow_in_rule_order_decides(snapshot: PolicySnapshot) -> None:
    assert ask(snapshot, WRITER, "topic.produce", "persistent://acme/shop/x") == (
        True,
        "allowed_by_rule",
        "p.yaml#allow-produce",
    )


def test_deny_overrides_allow_wherever_it_is(snapshot: PolicySnapshot) -> None:
    assert ask(snapshot, WRITER, "topic.produce", "persistent://acme/shop/secret") == (
        False,
        "denied_by_rule",
        "p.yaml#deny-secret",
    )
    assert ask(snapshot, "app", "topic.produce", "persistent://acme/shop/secret") == (
        True,
        "allowed_by_rule",
        "p.yaml#allow-produce-again",
    )


def test_default_deny(snapshot: PolicySnapshot) -> None:
    assert ask(snapshot, WRITER, "topic.produce", "persistent://other/shop/x") == (
        False,
        "no_matching_rule",
        "",
    )


def test_capture_from_subject_limits_resource_and_subscription(snapshot: PolicySnapshot) -> None:
    reader = "spiffe://td/ns/shop/sa/reader"
    assert ask(snapshot, reader, "topic.consume", "persistent://acme/shop/x", "reader-1")[0]
    assert ask(snapshot, reader, "topic.consume", "persistent://acme/shop/x", "shared")[0]
    assert not ask(snapshot, reader, "topic.consume", "persistent://acme/shop/x", "writer-1")[0]
    assert not ask(snapshot, reader, "topic.consume", "persistent://acme/other/x", "reader-1")[0]
    assert ask(snapshot, reader, "topic.lookup", "persistent://acme/shop/x")[0]


def test_an_answer_holds_for_any_subscription_only_where_no_rule_narrows_them(
    snapshot: PolicySnapshot,
) -> None:
    def holds(principal: str, action: str, resource: str) -> bool:
        req = AccessRequest(principal, action, parse_resource(resource), "")
        return snapshot.decide(req).any_subscription

    reader = "spiffe://td/ns/shop/sa/reader"
    # sub-reader narrows subscriptions for this reader and topic: the answer depends on the name
    assert not holds(reader, "topic.consume", "persistent://acme/shop/x")
    # outside sub-reader's resources no rule narrows anything: denied whatever the subscription
    assert holds(reader, "topic.consume", "persistent://other/shop/x")
    assert holds("role-nobody", "topic.consume", "persistent://acme/shop/x")
    # actions that name no subscription assert nothing
    assert not holds(reader, "topic.lookup", "persistent://acme/shop/x")
    assert not holds(WRITER, "topic.produce", "persistent://acme/shop/x")


def test_shadow_rules_are_reported_not_enforced(snapshot: PolicySnapshot) -> None:
    decision = snapshot.decide(
        AccessRequest("app", "topic.produce", parse_resource("persistent://acme/shop/x"))
    )
    assert decision.allowed
    assert decision.shadow == (ShadowEffect("p.yaml#audit-deny", would_allow=False),)


def test_reasons_are_one_sentence(snapshot: PolicySnapshot) -> None:
    decision = snapshot.decide(
        AccessRequest(WRITER, "topic.produce", parse_resource("persistent://acme/shop/secret"))
    )
    assert decision.reason == (
        "rule p.yaml#deny-secret denies 'spiffe://td/ns/shop/sa/writer' to topic.produce on persistent://acme/shop/secret"
    )
    assert decision.revision == snapshot.revision


def test_superusers_and_replacing_them(snapshot: PolicySnapshot) -> None:
    assert ask(snapshot, "root", "broker.shutdown", "") == (True, "superuser", "")
    assert ask(snapshot.with_superusers([]), "root", "broker.shutdown", "") == (False, "no_matching_rule", "")


def test_invalid_resource_is_a_deny_not_an_error(snapshot: PolicySnapshot) -> None:
    decision = snapshot.decide(AccessRequest(WRITER, "topic.produce", Resource(topic="acme/shop/x")))
    assert (decision.allowed, decision.reason_code) == (False, "invalid_resource")


def test_who_can_fills_captures_and_lists_denies(snapshot: PolicySnapshot) -> None:
    found = snapshot.who_can("topic.produce", parse_resource("persistent://acme/shop/secret"))
    assert found == [
        Grantee("root", "allow", "superuser"),
        Grantee("spiffe://td/ns/*/sa/*", "deny", "p.yaml#deny-secret"),
        Grantee("spiffe://td/ns/shop/sa/writer", "allow", "p.yaml#allow-produce"),
        Grantee("role:app", "allow", "p.yaml#allow-produce-again"),
        Grantee("spiffe://td/ns/shop/sa/writer", "allow", "p.yaml#allow-produce-again"),
        Grantee("role:app", "deny", "p.yaml#audit-deny", audit=True),
    ]


def test_who_can_subscription_conditions(snapshot: PolicySnapshot) -> None:
    resource = parse_resource("persistent://acme/shop/x")
    without = [g for g in snapshot.who_can("topic.consume", resource) if g.rule_id == "p.yaml#sub-reader"]
    assert without == [
        Grantee(
            "spiffe://td/ns/shop/sa/{sa}",
            "allow",
            "p.yaml#sub-reader",
            condition="subscription matches {sa}-* or shared",
        )
    ]
    shared = [
        g for g in snapshot.who_can("topic.consume", resource, "shared") if g.rule_id == "p.yaml#sub-reader"
    ]
    assert shared[0].condition == ""


def test_index_only_returns_candidates_for_the_action_and_tenant(snapshot: PolicySnapshot) -> None:
    assert list(snapshot.index.candidates("tenant.admin", "acme", WRITER, "")) == []
    assert list(snapshot.index.candidates("topic.produce", "other", "app", "")) == []
    other = "spiffe://td/ns/other/sa/x"
    rules = {r.id for r in snapshot.index.candidates("topic.produce", "acme", other, "")}
    assert rules == {"p.yaml#deny-secret", "p.yaml#allow-produce"}  # the patterns; not the rules for 'app'
    # SPIFFE patterns are filed under their literal prefix (`td/ns`): other principals never meet them.
    assert list(snapshot.index.candidates("topic.produce", "acme", "other-role", "")) == []
    assert list(snapshot.index.candidates("topic.produce", "acme", "spiffe://elsewhere/ns/a/sa/b", "")) == []


def test_example_policy_promises(examples: Path) -> None:
    snap = load_policy(examples)
    writer, reader = (
        "spiffe://meshgate.test/ns/payments/sa/writer",
        "spiffe://meshgate.test/ns/payments/sa/reader",
    )
    topic = "persistent://acme/payments/orders"
    assert ask(snap, writer, "topic.produce", topic)[0] and ask(snap, writer, "topic.lookup", topic)[0]
    assert ask(snap, reader, "topic.consume", topic, "any")[0] and ask(snap, reader, "topic.lookup", topic)[0]
    assert not ask(snap, writer, "topic.consume", topic, "any")[0]
    assert not ask(snap, reader, "topic.produce", topic)[0]
    assert ask(snap, "spiffe://meshgate.test/ns/acme-admin/sa/admin", "tenant.admin", "acme")[0]


NARROWED = (
    HEADER
    + """\
metadata: {name: n}
rules:
  - name: janitor-cleans
    effect: allow
    subjects: [{role: janitor}]
    actions: [topic.expire_messages, topic.peek_messages, topic.consume, namespace.unsubscribe]
    resources: [shop]
  - name: never-audit-subscriptions
    effect: deny
    subjects: [{role: janitor}]
    actions: [topic.expire_messages, topic.peek_messages, topic.consume, namespace.unsubscribe]
    resources: [shop]
    subscriptions: ["audit-*"]
  - name: intern-peeks-own
    effect: allow
    subjects: [{role: intern}]
    actions: [topic.peek_messages, topic.expire_messages]
    resources: [shop]
    subscriptions: ["intern-*"]
"""
)


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("topic.expire_messages", "persistent://shop/orders/x"),  # all subscriptions at once
        ("topic.peek_messages", "persistent://shop/orders/x"),  # examine, get by id
        ("topic.consume", "persistent://shop/orders/x"),
        ("namespace.unsubscribe", "shop/orders"),  # the broker never names one for namespaces
    ],
)
def test_a_narrowed_deny_applies_when_no_subscription_is_named(
    write_policy: WritePolicy, action: str, resource: str
) -> None:
    """Pulsar asks these without a subscription; a deny narrowed to subscriptions must not be weaker than
    the allow it guards, so it applies when the subscription is unknown (#16)."""
    snap = load_policy(write_policy({"n.yaml": NARROWED}))
    assert ask(snap, "janitor", action, resource) == (
        False,
        "denied_by_rule",
        "n.yaml#never-audit-subscriptions",
    )
    assert ask(snap, "janitor", action, resource, "audit-1") == (
        False, "denied_by_rule", "n.yaml#never-audit-subscriptions",
    )  # fmt: skip
    assert ask(snap, "janitor", action, resource, "work") == (
        True,
        "allowed_by_rule",
        "n.yaml#janitor-cleans",
    )


def test_a_narrowed_allow_still_needs_a_matching_subscription(write_policy: WritePolicy) -> None:
    snap = load_policy(write_policy({"n.yaml": NARROWED}))
    topic = "persistent://shop/orders/x"
    for action in ("topic.peek_messages", "topic.expire_messages"):
        assert ask(snap, "intern", action, topic) == (False, "no_matching_rule", "")
        assert ask(snap, "intern", action, topic, "intern-1") == (
            True,
            "allowed_by_rule",
            "n.yaml#intern-peeks-own",
        )


def test_who_can_says_a_narrowed_deny_also_covers_no_subscription(write_policy: WritePolicy) -> None:
    snap = load_policy(write_policy({"n.yaml": NARROWED}))
    found = snap.who_can("topic.expire_messages", parse_resource("persistent://shop/orders/x"))
    conditions = {g.rule_id: g.condition for g in found}
    assert conditions["n.yaml#never-audit-subscriptions"] == "subscription matches audit-* or is not named"
    assert conditions["n.yaml#intern-peeks-own"] == "subscription matches intern-*"


STARS = (
    HEADER
    + """\
metadata: {name: s}
rules:
  - {name: bot-does-all, effect: allow, subjects: [{role: bot}], actions: ["*"], resources: ["*"]}
  - {name: ops-tenant-star, effect: allow, subjects: [{role: ops}], actions: ["tenant.*"], resources: [shop]}
  - {name: root-named, effect: allow, subjects: [{role: root}, {role: gone}], actions: [superuser],
     resources: ["*"]}
  - {name: gone-denied-all, effect: deny, subjects: [{role: gone}], actions: ["*"], resources: ["*"]}
"""
)


def test_a_wildcard_in_an_allow_grants_neither_superuser_nor_tenant_admin(write_policy: WritePolicy) -> None:
    """Holding either grant makes Pulsar skip explicit denies; `*` must not hand them out silently (#16)."""
    snap = load_policy(write_policy({"s.yaml": STARS}))
    assert ask(snap, "bot", "superuser", "") == (False, "no_matching_rule", "")
    assert ask(snap, "bot", "tenant.admin", "shop") == (False, "no_matching_rule", "")
    assert ask(snap, "bot", "cluster.delete_cluster", "cluster:c") == (
        True,
        "allowed_by_rule",
        "s.yaml#bot-does-all",
    )
    assert ask(snap, "ops", "tenant.admin", "shop") == (False, "no_matching_rule", "")
    assert ask(snap, "ops", "tenant.get_tenant", "shop") == (
        True,
        "allowed_by_rule",
        "s.yaml#ops-tenant-star",
    )
    assert ask(snap, "root", "superuser", "") == (True, "allowed_by_rule", "s.yaml#root-named")


def test_a_wildcard_in_a_deny_still_denies_the_grants(write_policy: WritePolicy) -> None:
    """A deny never gets weaker: `*` in a deny keeps covering superuser and tenant.admin."""
    snap = load_policy(write_policy({"s.yaml": STARS}))
    assert ask(snap, "gone", "superuser", "") == (False, "denied_by_rule", "s.yaml#gone-denied-all")
