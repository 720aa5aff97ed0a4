"""Every operation Pulsar 4.0.7 and 4.2.4 ask about is in meshgate's operation table, with an intent.

The broker's enums come from `pulsar_operations.json`, which `OperationTable.java` printed on each broker
classpath; `test_enums_are_what_pulsar_says` re-asks the real classes whenever a classpath is resolved,
so a Pulsar that adds an operation fails here until `meshgate.policy.operations` classifies it.
"""

from __future__ import annotations

import shutil

import pytest
from meshgate.policy import operations
from meshgate.policy.actions import ACTIONS, INTENT_ACTIONS

from tests.conformance.pulsar_names import table

ENUMS = table.load_operations()
# Enum -> the rows of the operation table its constants are (lower-cased) in.
FAMILIES = {
    "TopicOperation": operations.TOPIC,
    "NamespaceOperation": operations.NAMESPACE,
    "TenantOperation": operations.TENANT,
    "PolicyOperation": operations.POLICY,
    "BrokerOperation": operations.BROKER,
    "ClusterOperation": operations.CLUSTER,
}
# Rows that are the plugin's own methods (allowFunctionOps, isTenantAdmin, isSuperUser), not enum values.
PLUGIN_METHODS = {"namespace.functions", "namespace.sources", "namespace.sinks", "tenant.admin", "superuser"}


@pytest.mark.parametrize("version", table.VERSIONS)
def test_enums_are_what_pulsar_says(version: str) -> None:
    if not table.classpath(version).exists() or shutil.which("java") is None:
        pytest.skip(f"no Pulsar {version} classpath or no java: run `make broker-classpath`")
    assert table.generate_operations(version) == ENUMS[version], (
        "Pulsar's operations moved: run `make pulsar-names`, then classify each new one in "
        "meshgate.policy.operations"
    )


@pytest.mark.parametrize("version", table.VERSIONS)
@pytest.mark.parametrize("enum", [*FAMILIES, "PolicyName"])
def test_every_pulsar_operation_is_classified(version: str, enum: str) -> None:
    ours = operations.POLICY_NAMES if enum == "PolicyName" else [op for op, _ in FAMILIES[enum]]
    missing = [c for c in ENUMS[version][enum] if c.lower() not in ours]
    assert missing == [], f"{enum} of Pulsar {version} has operations meshgate does not classify"


@pytest.mark.parametrize("enum", [*FAMILIES, "PolicyName"])
def test_table_has_no_operation_pulsar_lacks(enum: str) -> None:
    """Every enum row exists in Pulsar 4.0 or 4.2 (a typo would be an action no broker ever asks)."""
    ours = operations.POLICY_NAMES if enum == "PolicyName" else [op for op, _ in FAMILIES[enum]]
    known = {c.lower() for version in table.VERSIONS for c in ENUMS[version][enum]}
    prefixes = {"NamespaceOperation": "namespace.", "TenantOperation": "tenant."}
    extra = [op for op in ours if op not in known and prefixes.get(enum, "") + op not in PLUGIN_METHODS]
    assert extra == []


def test_enum_order_is_kept() -> None:
    """The table lists each family in the enum's order, so a diff against a new Pulsar reads easily."""
    for enum, rows in FAMILIES.items():
        ours = [op for op, _ in rows if f"{enum[:-9].lower()}.{op}" not in PLUGIN_METHODS]
        assert ours == [c.lower() for c in ENUMS[table.VERSIONS[-1]][enum]], enum
    # PolicyName: 4.0's order, then what 4.2 added
    first = [c.lower() for c in ENUMS[table.VERSIONS[0]]["PolicyName"]]
    assert list(operations.POLICY_NAMES[: len(first)]) == first


def test_every_action_serves_exactly_one_known_intent() -> None:
    rows = operations.table()
    assert [name for name, _ in rows] == list(ACTIONS)
    assert {intent for _, intent in rows} == set(operations.INTENTS)
    assert sorted(a for actions in INTENT_ACTIONS.values() for a in actions) == sorted(ACTIONS)
