"""The action table is the contract with the Java shim: its shape, patterns and verbs."""

from __future__ import annotations

import pytest
from meshgate.errors import PolicyError
from meshgate.policy import actions
from meshgate.policy.actions import ACTIONS, SUBSCRIPTION_ACTIONS, VERBS, expand_pattern, expand_patterns


def test_table_has_every_enum_value_once() -> None:
    policy_count = len(actions.POLICY_NAMES) * 2
    expected = (
        28 + 17 + 9 + 2 * policy_count + len(actions.BROKER_OPERATIONS) + len(actions.CLUSTER_OPERATIONS)
        + policy_count + 1
    )  # fmt: skip
    assert len(ACTIONS) == len(set(ACTIONS)) == expected


@pytest.mark.parametrize(
    "name",
    [
        "topic.produce", "topic.consume", "topic.lookup", "topic.trim_topic", "namespace.functions",
        "namespace.sinks", "namespace.packages", "tenant.admin", "tenant.list_tenants",
        "namespace_policy.allow_custom_metric_labels.write", "topic_policy.shadow_topic.read",
        "broker.shutdown", "cluster.delete_failure_domain", "cluster_policy.all.read", "superuser",
    ],
)  # fmt: skip
def test_known_names(name: str) -> None:
    assert actions.is_known(name)


@pytest.mark.parametrize(
    "name", ["produce", "TOPIC.PRODUCE", "topic.", "", "topic.produce ", "tenant.operate"]
)
def test_unknown_names(name: str) -> None:
    assert not actions.is_known(name)


@pytest.mark.parametrize(
    ("pattern", "count"),
    [
        ("*", len(ACTIONS) - 2),  # all but superuser and tenant.admin, which an allow must name
        ("topic.*", 28),
        ("namespace_policy.*", 70),
        ("namespace_policy.*.read", 35),
        ("*.*.write", 105),
        ("topic_policy.retention.*", 2),
        ("produce", 2),
        ("consume", 3),
    ],
)
def test_patterns_expand(pattern: str, count: int) -> None:
    assert len(expand_pattern(pattern)) == count


def test_produce_and_consume_verbs_are_explicit() -> None:
    assert expand_pattern("produce") == {"topic.produce", "topic.lookup"}
    assert expand_pattern("consume") == {"topic.consume", "topic.subscribe", "topic.lookup"}
    assert "tenant.update_tenant" not in expand_pattern("tenant-admin")
    assert "tenant.admin" in expand_pattern("tenant-admin")
    assert all(
        a.endswith(".read") or not a.startswith(("namespace_policy", "topic_policy"))
        for a in expand_pattern("view")
    )


def test_every_part_of_every_verb_names_actions() -> None:
    for verb, parts in VERBS.items():
        for part in parts:
            assert expand_pattern(part), (verb, part)


@pytest.mark.parametrize(
    "pattern", ["topic.teleport", "topics.*", "namespace_policy.nope.read", "Topic.produce"]
)
def test_unknown_pattern_is_an_error(pattern: str) -> None:
    with pytest.raises(PolicyError) as info:
        expand_pattern(pattern)
    assert (
        str(info.value)
        == f"policy_invalid: unknown action {pattern!r} (see the action table in docs/policy.md)"
    )


def test_expand_many_and_subscription_actions_are_known() -> None:
    assert expand_patterns(["produce", "topic.consume"]) == {"topic.produce", "topic.lookup", "topic.consume"}
    assert set(ACTIONS) >= SUBSCRIPTION_ACTIONS


def test_docs_list_every_operation_and_verb() -> None:
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[3] / "docs" / "policy.md").read_text("utf-8")
    families = (
        actions.TOPIC_OPERATIONS, actions.NAMESPACE_OPERATIONS, actions.TENANT_OPERATIONS,
        actions.POLICY_NAMES, actions.BROKER_OPERATIONS, actions.CLUSTER_OPERATIONS,
    )  # fmt: skip
    missing = [name for family in families for name in family if f"`{name}`" not in docs]
    assert missing == []
    for verb, parts in VERBS.items():
        assert f"| `{verb}` | " + ", ".join(f"`{p}`" for p in parts) in docs
