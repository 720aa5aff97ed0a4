"""`meshgate validate` warnings: each names file:line, says what happens and what to write instead."""

from __future__ import annotations

from pathlib import Path

from conftest import HEADER, WritePolicy
from meshgate.policy.lint import lint, segments_may_overlap, subjects_may_overlap
from meshgate.policy.loader import compile_source, read_source
from meshgate.policy.oidcsubject import OidcSubject
from meshgate.policy.patterns import parse_segment
from meshgate.policy.subjects import role_subject, spiffe_subject


def warnings_of(folder: Path) -> list[str]:
    source = read_source(folder)
    return lint(source.documents(tests=False)[0], compile_source(source).rules)


def policy(rules: str) -> str:
    return HEADER + "metadata: {name: p}\nrules:\n" + rules


def rule(name: str, effect: str, subject: str, actions: str, resources: str, more: str = "") -> str:
    """One rule on one line (flow style)."""
    head = f"  - {{name: {name}, effect: {effect}, subjects: [{subject}], "
    return head + f"actions: {actions}, resources: {resources}{more}}}\n"


def test_the_example_policies_have_no_warnings(examples: Path) -> None:
    assert warnings_of(examples) == []


def test_a_wildcard_that_used_to_grant_superuser_or_tenant_admin(write_policy: WritePolicy) -> None:
    folder = write_policy(
        {
            "p.yaml": policy(
                """\
  - name: bot
    effect: allow
    subjects: [{role: bot}]
    actions: [topic.produce, "*"]
    resources: ["*"]
"""
                + rule("ops", "allow", "{role: ops}", '["tenant.*"]', '[shop, "shop/a"]')
                + rule("topics-only", "allow", "{role: t}", '["*"]', '["persistent://a/b/*"]')
                + rule("named", "allow", "{role: r}", '["*", superuser, tenant.admin]', '["*"]')
                + rule("deny-all", "deny", "{role: x}", '["*"]', '["*"]')
            )
        }
    )
    assert warnings_of(folder) == [
        "p.yaml:8: '*' in allow rule 'p.yaml#bot' does not grant superuser: a wildcard never grants it, "
        "because a super-user skips explicit denies; if its subjects must be super-users, add a rule with "
        '`actions: [superuser]` and `resources: ["*"]`',
        "p.yaml:8: '*' in allow rule 'p.yaml#bot' does not grant tenant.admin: a wildcard never grants it, "
        "because a tenant admin skips explicit denies; if its subjects must be tenant admins of every "
        "tenant, add `tenant.admin` (or the `tenant-admin` verb) to its actions",
        "p.yaml:10: 'tenant.*' in allow rule 'p.yaml#ops' does not grant tenant.admin: a wildcard never "
        "grants it, because a tenant admin skips explicit denies; if its subjects must be tenant admins of "
        "shop, add `tenant.admin` (or the `tenant-admin` verb) to its actions",
    ]


def test_subscriptions_on_actions_pulsar_asks_without_one(write_policy: WritePolicy) -> None:
    folder = write_policy(
        {
            "p.yaml": policy(
                """\
  - name: intern
    effect: allow
    subjects: [{role: intern}]
    actions: [topic.peek_messages, topic.consume]
    resources: [shop]
    subscriptions: ["intern-*"]
  - name: no-audit
    effect: deny
    subjects: [{role: intern}]
    actions: [namespace.unsubscribe, topic.expire_messages]
    resources: [shop]
    subscriptions: ["audit-*"]
"""
                + rule("fine", "allow", "{role: a}", "[consume]", "[shop]", ", subscriptions: [a]")
            )
        }
    )
    assert warnings_of(folder) == [
        "p.yaml:10: allow rule 'p.yaml#intern' is limited to subscriptions, but Pulsar asks without naming "
        "one: topic.peek_messages to examine a message or get one by id; there this allow never applies",
        "p.yaml:16: deny rule 'p.yaml#no-audit' is limited to subscriptions, but Pulsar asks without naming "
        "one: namespace.unsubscribe always (the broker names no subscription for namespace operations); "
        "topic.expire_messages to expire messages on all subscriptions at once; there this deny applies "
        "whatever the subscription",
    ]


BOT, ADMIN = "{spiffe: spiffe://td/ns/ops/sa/bot}", "{role: acme-admin}"
GRANTS = """\
  - name: ops-are-superusers
    effect: allow
    subjects: [{spiffe: "spiffe://td/ns/ops/sa/*"}]
    actions: [superuser]
    resources: ["*"]
  - name: acme-admin
    effect: allow
    subjects: [{role: acme-admin}]
    actions: [tenant-admin]
    resources: [acme]
"""


def test_denies_a_superuser_grant_makes_unreachable(write_policy: WritePolicy) -> None:
    folder = write_policy(
        {
            "p.yaml": policy(
                GRANTS
                + """\
  - name: bot-no-functions
    effect: deny
    subjects: [{spiffe: spiffe://td/ns/ops/sa/bot}]
    actions: [namespace.functions, topic.produce]
    resources: ["*"]
"""
                + rule("produce-only", "deny", BOT, "[topic.produce]", '["*"]')
                + rule("elsewhere", "deny", "{spiffe: spiffe://td/ns/dev/sa/bot}", '["*"]', '["*"]')
                + rule(
                    "denies-the-grant-too", "deny", '{spiffe: "spiffe://td/ns/ops/sa/b*"}', '["*"]', '["*"]'
                )
                + rule("planned", "deny", BOT, '["cluster.*"]', '["*"]', ", mode: audit")
            )
        }
    )
    assert warnings_of(folder) == [
        "p.yaml:15: deny rule 'p.yaml#bot-no-functions' never runs for spiffe://td/ns/ops/sa/bot "
        "(spiffe://td/ns/ops/sa/*) where rule 'p.yaml#ops-are-superusers' (p.yaml:5) makes it a super-user: "
        "Pulsar lets a super-user do namespace.functions, and every admin call that asks only for a "
        "super-user, without asking about the operation; deny superuser to these subjects too, or narrow "
        "'p.yaml#ops-are-superusers'"
    ]


def test_denies_a_tenant_admin_grant_makes_unreachable(write_policy: WritePolicy) -> None:
    folder = write_policy(
        {
            "p.yaml": policy(
                GRANTS
                + """\
"""
                + rule("ledger-hidden", "deny", ADMIN, '["topic.*"]', '["persistent://acme/pay/ledger"]')
                + rule("other-tenant", "deny", ADMIN, '["topic.*"]', '["persistent://beta/pay/ledger"]')
                + rule("sinks", "deny", '{oidc: {issuer: "https://sso"}}', "[namespace.sinks]", "[acme/pay]")
            )
        }
    )
    ledger, sinks_superuser, sinks = warnings_of(folder)
    assert ledger == (
        "p.yaml:15: deny rule 'p.yaml#ledger-hidden' never runs for role:acme-admin where rule "
        "'p.yaml#acme-admin' (p.yaml:10) makes it tenant admin of acme: Pulsar lets a tenant admin do "
        "topic.lookup, and the calls that ask only for a tenant admin (topic truncate, topic permissions, "
        "schema admin, namespace properties), without asking about the operation; deny tenant.admin to "
        "these subjects too, or narrow 'p.yaml#acme-admin'"
    )
    # a token's principal may be any name: an OIDC subject may be the same caller as a role or SPIFFE ID
    assert sinks.startswith("p.yaml:17: deny rule 'p.yaml#sinks' never runs for oidc:https://sso (role:")
    assert "tenant admin of acme: Pulsar lets a tenant admin do namespace.sinks" in sinks
    assert sinks_superuser.startswith(
        "p.yaml:17: deny rule 'p.yaml#sinks' never runs for oidc:https://sso (spif"
    )


def test_subject_and_segment_overlap() -> None:
    ops = spiffe_subject("spiffe://td/ns/ops/sa/*")
    assert subjects_may_overlap(ops, spiffe_subject("spiffe://td/ns/o*/sa/bot"))
    assert subjects_may_overlap(ops, spiffe_subject("spiffe://td/ns/{ns}/sa/x"))
    assert not subjects_may_overlap(ops, spiffe_subject("spiffe://td/ns/dev/sa/*"))
    assert not subjects_may_overlap(ops, spiffe_subject("spiffe://td/ns/ops/sa/x/y"))
    assert not subjects_may_overlap(ops, role_subject("ops"))
    sso = OidcSubject("https://sso", (("groups", frozenset({"a"})),))
    assert subjects_may_overlap(sso, role_subject("alice"))
    assert not subjects_may_overlap(sso, OidcSubject("https://sso", (("groups", frozenset({"b"})),)))
    assert subjects_may_overlap(sso, OidcSubject("https://sso", (("roles", frozenset({"b"})),)))
    assert not subjects_may_overlap(sso, OidcSubject("https://other"))
    bot = OidcSubject("https://sso", principal="oidc:https://sso#bot")
    assert subjects_may_overlap(sso, bot)
    assert not subjects_may_overlap(bot, OidcSubject("https://sso", principal="oidc:https://sso#other"))
    assert segments_may_overlap(parse_segment("a*"), parse_segment("ab*"))
    assert not segments_may_overlap(parse_segment("a*"), parse_segment("b*"))
    assert not segments_may_overlap(parse_segment("*-x"), parse_segment("*-y"))
