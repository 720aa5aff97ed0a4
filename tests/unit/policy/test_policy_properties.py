"""Property tests: on random policies and requests, the indexed engine agrees with two references:
the rule-scanning `naive_decide`, and an independent oracle written here from the documented semantics."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from meshgate.model import AccessRequest, ShadowEffect
from meshgate.policy import PolicySnapshot
from meshgate.policy.compile import compile_documents
from meshgate.policy.resources import parse_resource
from meshgate.policy.yamlsrc import SourceDoc, schema_errors
from meshgate.principal import LinkerdNaming

from tests.conformance.pulsar_names import table as pulsar_names
from tests.support.naive import naive_decide

SSO = "https://sso"
ALICE, BOT, COPILOT = (f"oidc:{SSO}#{name}" for name in ("alice", "bot", "copilot"))
PRINCIPALS = [f"spiffe://t.test/ns/{ns}/sa/{sa}" for ns in ("a", "b", "a-x") for sa in ("w", "r")] + [
    "app",
    "root",
    ALICE,
    BOT,
]
PLAIN_SUBJECTS = [
    {"spiffe": "spiffe://t.test/ns/a/sa/w"},
    {"spiffe": "spiffe://t.test/ns/b/sa/r"},
    {"spiffe": "spiffe://t.test/ns/*/sa/w"},
    {"spiffe": "spiffe://t.test/ns/a*/sa/*"},
    {"role": "app"},
]
# SSO callers, their claims and agents acting for someone (docs/policy.md 1.1, 1.4), and everyone: claims
# must all hold; `subject.*` and `delegation.*` are a delegated call's.
SSO_SUBJECTS = [
    {"oidc": {"issuer": SSO, "claim": "groups", "values": ["g1"]}},
    {"oidc": {"issuer": SSO}},
    {"oidc": {"issuer": SSO, "claims": {"groups": ["g1"], "subject.groups": ["g2"]}}},
    {"oidc": {"issuer": SSO, "principal": BOT, "claims": {"subject.groups": ["g1", "g2"]}}},
    {"oidc": {"issuer": SSO, "principal": BOT}},
    {"oidc": {"issuer": SSO, "claims": {"delegation.actors": [COPILOT]}}},
    {"oidc": {"issuer": SSO, "principal": BOT, "claims": {"delegation.subject": [ALICE]}}},
    {"everyone": "agents"},
    {"everyone": "all"},
    {"everyone": "sso"},
    {"everyone": "spiffe"},
    {"everyone": "role"},
]
PLAIN_SUBJECTS += SSO_SUBJECTS
CAPTURE_SUBJECTS = [{"spiffe": "spiffe://t.test/ns/{ns}/sa/*"}, {"spiffe": "spiffe://t.test/ns/{ns}/sa/w"}]
PLAIN_RESOURCES = ["*", "a", "b", "a/n1", "*/n1", "persistent://a/n1/*", "persistent://a/*/t1",
                   "non-persistent://b/n2/t*", "persistent://*/*/*"]  # fmt: skip
CAPTURE_RESOURCES = ["persistent://{ns}/*/*", "{ns}-x/n1", "persistent://a/{ns}*/*", "{ns}"]
ACTION_SETS = [["topic.produce"], ["produce"], ["consume"], ["topic.*"], ["*"], ["namespace.get_topics"],
               ["tenant.admin"], ["topic.consume"], ["produce", "namespace.get_topics"]]  # fmt: skip
REQUEST_ACTIONS = [
    "topic.produce",
    "topic.consume",
    "topic.lookup",
    "namespace.get_topics",
    "tenant.admin",
    "topic.terminate",
    "superuser",
]
# Every topic here is in Pulsar's table (tests/conformance/pulsar_names), which the oracle reads.
REQUEST_RESOURCES = ["persistent://a/n1/t1", "persistent://a/n1/t1-partition-2", "non-persistent://b/n2/t3",
                     "persistent://a/n1/t1-partition-02", "persistent://a/n1/t1-partition-\u0662",
                     "persistent://a/n1/t1-partition-99999999999",
                     "persistent://a-x/n1/t1", "persistent://b/n1/t1", "persistent://a/b1/t1", "a/n1", "b/n2",
                     "a", "a-x/n1", "b", ""]  # fmt: skip
PULSAR_NAMES = {row["name"]: row for row in pulsar_names.load()["4.0.7"]["names"]}
SUBSCRIPTION_ACTIONS = {"topic.consume", "topic.subscribe"}


@st.composite
def rules(draw: st.DrawFn, index: int, plain: list[dict[str, Any]] = PLAIN_SUBJECTS) -> dict[str, Any]:
    capture = plain is PLAIN_SUBJECTS and draw(st.booleans())
    subjects = draw(st.lists(st.sampled_from(CAPTURE_SUBJECTS if capture else plain), min_size=1, max_size=2))
    pool = PLAIN_RESOURCES + (CAPTURE_RESOURCES if capture else [])
    rule: dict[str, Any] = {
        "name": f"r{index}",
        "effect": draw(st.sampled_from(["allow", "allow", "deny"])),
        "subjects": subjects,
        "actions": draw(st.sampled_from(ACTION_SETS)),
        "resources": draw(st.lists(st.sampled_from(pool), min_size=1, max_size=2, unique=True)),
    }
    if draw(st.integers(0, 4)) == 0:
        rule["mode"] = "audit"
    if draw(st.integers(0, 3)) == 0:
        rule["subscriptions"] = [draw(st.sampled_from(["s*", "{ns}-*"] if capture else ["s*", "x"]))]
        if rule["effect"] == "deny":
            rule["actions"] = ["topic.consume"]
    return rule


@st.composite
def policies(draw: st.DrawFn, plain: list[dict[str, Any]] = PLAIN_SUBJECTS) -> list[dict[str, Any]]:
    count = draw(st.integers(1, 8))
    return [draw(rules(i, plain)) for i in range(count)]


GROUPS = st.lists(st.sampled_from(["g1", "g2"]), max_size=2, unique=True).map(tuple)


@st.composite
def requests(draw: st.DrawFn, principals: list[str] = PRINCIPALS) -> AccessRequest:
    """Claims come with a verified token (an issuer), as the service builds them (`wire._voucher`); an SSO
    caller's token may be a delegated one: the person's claims under `subject.` and the chain."""
    principal = draw(st.sampled_from(principals))
    issuer = draw(st.sampled_from(["", SSO]))
    attributes: dict[str, tuple[str, ...]] = {}
    if issuer:
        attributes["groups"] = draw(GROUPS)
        if principal.startswith("oidc:") and draw(st.booleans()):
            attributes["subject.groups"] = draw(GROUPS)
            attributes["delegation.subject"] = (draw(st.sampled_from([ALICE, f"oidc:{SSO}#bob"])),)
            earlier = draw(st.sampled_from([(), (COPILOT,)]))
            attributes["delegation.actors"] = (principal, *earlier)
    return AccessRequest(
        principal=principal,
        action=draw(st.sampled_from(REQUEST_ACTIONS)),
        resource=parse_resource(draw(st.sampled_from(REQUEST_RESOURCES))),
        subscription=draw(st.sampled_from(["", "s1", "a-1", "x"])),
        issuer=issuer,
        attributes={claim: values for claim, values in attributes.items() if values},
    )


def build(raw_rules: list[dict[str, Any]]) -> PolicySnapshot:
    data = {
        "apiVersion": "meshgate.dev/v1",
        "kind": "AccessPolicy",
        "metadata": {"name": "p"},
        "rules": raw_rules,
    }
    doc = SourceDoc("p.yaml", data, {})
    assert schema_errors(doc) == []
    compiled, errors = compile_documents([doc], LinkerdNaming())
    assert errors == []
    return PolicySnapshot("rev", "sha256:0", tuple(compiled), frozenset({"root"}))


# ---- the oracle: the documented semantics, written independently of the engine -----------------------


def glob(pattern: str) -> str:
    return "".join("[^/]*" if c == "*" else re.escape(c) for c in pattern)


EVERYONE_OF = {"spiffe": "spiffe://", "sso": "oidc:"}  # `everyone: role` is whoever is neither


def oracle_subject(subject: dict[str, Any], req: AccessRequest, effect: str) -> dict[str, str] | None:
    principal = req.principal
    if "role" in subject:
        return {} if principal == subject["role"] else None
    if "everyone" in subject:
        kind = subject["everyone"]
        sso = principal.startswith("oidc:")
        if kind == "agents":  # a delegated call; in a deny also an SSO caller whose token was not verified
            delegated = "delegation.actors" in req.attributes
            return {} if sso and (delegated or (effect == "deny" and not req.issuer)) else None
        if kind == "role":
            return None if principal.startswith(tuple(EVERYONE_OF.values())) else {}
        return {} if kind == "all" or principal.startswith(EVERYONE_OF[kind]) else None
    if "oidc" in subject:
        oidc = subject["oidc"]
        if req.issuer != oidc["issuer"] or oidc.get("principal", principal) != principal:
            return None
        conditions = dict(oidc.get("claims", {}))
        if "claim" in oidc:
            conditions[oidc["claim"]] = oidc["values"]
        if any(not set(values) & set(req.attributes.get(claim, ())) for claim, values in conditions.items()):
            return None
        return {}
    regex = glob(subject["spiffe"]).replace(re.escape("{ns}"), "(?P<ns>[^/]+)")
    found = re.fullmatch(regex, req.principal)
    return None if found is None else found.groupdict()


def request_parts(req: AccessRequest) -> tuple[str, str, str, str]:
    """(domain, tenant, namespace, topic), the topic being the partitioned topic Pulsar's TopicName names."""
    res = req.resource
    if res.topic:
        domain, rest = PULSAR_NAMES[res.topic]["partitioned_topic"].split("://")
        tenant, ns, topic = rest.split("/")
        return domain, tenant, ns, topic
    ns = res.namespace.split("/")[1] if res.namespace else ""
    return "", res.tenant, ns, ""


def oracle_resource(pattern: str, bindings: dict[str, str], req: AccessRequest) -> bool:
    for name, value in bindings.items():
        pattern = pattern.replace("{" + name + "}", value)
    domain, tenant, ns, topic = request_parts(req)
    if pattern == "*":
        return True
    if "://" in pattern:
        want_domain, rest = pattern.split("://")
        return (
            bool(topic)
            and domain == want_domain
            and re.fullmatch(glob(rest), f"{tenant}/{ns}/{topic}") is not None
        )
    if "/" in pattern:
        return bool(ns) and re.fullmatch(glob(pattern), f"{tenant}/{ns}") is not None
    return bool(tenant) and re.fullmatch(glob(pattern), tenant) is not None


def oracle_action(patterns: list[str], action: str, effect: str) -> bool:
    verbs = {
        "produce": {"topic.produce", "topic.lookup"},
        "consume": {"topic.consume", "topic.subscribe", "topic.lookup"},
    }
    wildcard = effect == "deny" or action not in ("superuser", "tenant.admin")  # an allow names grants
    return any(
        (p == "*" and wildcard)
        or p == action
        or (p.endswith(".*") and action.startswith(p[:-1]) and wildcard)
        or action in verbs.get(p, set())
        for p in patterns
    )


def oracle_rule(rule: dict[str, Any], req: AccessRequest) -> bool:
    if not oracle_action(rule["actions"], req.action, rule["effect"]):
        return False
    for subject in rule["subjects"]:
        bindings = oracle_subject(subject, req, rule["effect"])
        if bindings is None:
            continue
        for resource in rule["resources"]:
            if not oracle_resource(resource, bindings, req):
                continue
            subs = rule.get("subscriptions")
            if subs is None or req.action not in SUBSCRIPTION_ACTIONS:
                return True
            subs = [s.replace("{ns}", bindings.get("ns", "{ns}")) for s in subs]
            if not req.subscription and rule["effect"] == "deny":  # unknown: a narrowed deny applies
                return True
            if req.subscription and any(re.fullmatch(glob(s), req.subscription) for s in subs):
                return True
    return False


def oracle(
    raw_rules: list[dict[str, Any]], req: AccessRequest
) -> tuple[bool, str, str, tuple[ShadowEffect, ...]]:
    if req.principal == "root":
        return True, "superuser", "", ()
    matched = [r for r in raw_rules if oracle_rule(r, req)]
    shadow = tuple(
        ShadowEffect(f"p.yaml#{r['name']}", r["effect"] == "allow") for r in matched if r.get("mode")
    )
    enforced = [r for r in matched if not r.get("mode")]
    for effect, code in (("deny", "denied_by_rule"), ("allow", "allowed_by_rule")):
        decider = next((r for r in enforced if r["effect"] == effect), None)
        if decider is not None:
            return effect == "allow", code, f"p.yaml#{decider['name']}", shadow
    return False, "no_matching_rule", "", shadow


def agree(raw_rules: list[dict[str, Any]], reqs: list[AccessRequest]) -> None:
    """The indexed engine, `naive_decide` and the oracle give each request the same decision."""
    snapshot = build(raw_rules)
    for req in reqs:
        decision = snapshot.decide(req)
        assert naive_decide(snapshot, req) == decision
        assert (decision.allowed, decision.reason_code, decision.rule_id, decision.shadow) == oracle(
            raw_rules, req
        )


@settings(max_examples=300, deadline=None)
@given(policies(), st.lists(requests(), min_size=1, max_size=10))
def test_index_agrees_with_naive_and_oracle(
    raw_rules: list[dict[str, Any]], reqs: list[AccessRequest]
) -> None:
    agree(raw_rules, reqs)


SSO_CALLERS = [ALICE, BOT, "app", PRINCIPALS[0]]


@settings(max_examples=200, deadline=None)
@given(policies(SSO_SUBJECTS), st.lists(requests(SSO_CALLERS), min_size=1, max_size=10))
def test_claims_agents_and_everyone_agree_with_the_oracle(
    raw_rules: list[dict[str, Any]], reqs: list[AccessRequest]
) -> None:
    """The same on SSO and `everyone` subjects only, asked by SSO callers (some of them agents acting for
    someone) and a few others: claims, `subject.*`, `delegation.*` and `everyone: agents` decide most."""
    agree(raw_rules, reqs)


@settings(max_examples=200, deadline=None)
@given(policies(), requests(), st.sampled_from(["", "s1", "a-1", "x", "billing"]))
def test_an_answer_said_to_hold_for_any_subscription_does(
    raw_rules: list[dict[str, Any]], req: AccessRequest, other: str
) -> None:
    snapshot = build(raw_rules)
    decision = snapshot.decide(req)
    if decision.any_subscription:
        moved = snapshot.decide(dataclasses.replace(req, subscription=other))
        assert (moved.allowed, moved.rule_id) == (decision.allowed, decision.rule_id)
        assert moved.any_subscription


@settings(max_examples=100, deadline=None)
@given(policies(), requests())
def test_adding_a_matching_deny_never_allows(raw_rules: list[dict[str, Any]], req: AccessRequest) -> None:
    before = build(raw_rules).decide(req)
    deny = {
        "name": "deny-all",
        "effect": "deny",
        "subjects": [{"role": req.principal}],
        "actions": ["*"],
        "resources": ["*"],
    }
    after = build([*raw_rules, deny]).decide(req)
    if req.principal == "root":
        assert after.allowed
    else:
        assert not after.allowed and after.rule_id in {"p.yaml#deny-all"} | {
            f"p.yaml#{r['name']}" for r in raw_rules
        }
    assert not (after.allowed and not before.allowed)
