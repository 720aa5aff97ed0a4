"""meshgate accepts exactly the tenant, namespace, cluster and topic names Pulsar 4.0.7 and 4.2.4 accept.

The answers come from `entity_names.json`, which `EntityNameTable.java` printed on each broker classpath
(Pulsar's own `NamedEntity`, `NamespaceName` and `TopicName`); `test_table_is_what_pulsar_says` re-asks
them whenever a classpath is resolved. A name Pulsar refuses is `invalid_resource`; a name it accepts is
read literally, however odd (`.`, `..`, `a:b=c`).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from meshgate.errors import BadRequestError, PolicyError
from meshgate.model import AccessRequest, Resource
from meshgate.policy import load_policy
from meshgate.policy.pulsar_names import is_entity_name, is_local_name
from meshgate.policy.resources import Target, parse_resource, parse_resource_pattern, target_of

from tests.conformance.pulsar_names import table

TABLE = table.load_entities()
ROWS = [(version, row) for version in table.VERSIONS for row in TABLE[version]]
IDS = [f"{version}:{row['name']!r}"[:60] for version, row in ROWS]


@pytest.mark.parametrize("version", table.VERSIONS)
def test_table_is_what_pulsar_says(version: str) -> None:
    if not table.classpath(version).exists() or shutil.which("java") is None:
        pytest.skip(f"no Pulsar {version} classpath or no java: run `make broker-classpath`")
    assert table.generate_entities(version) == TABLE[version], "Pulsar moved: run `make pulsar-names`"


def test_table_covers_every_name() -> None:
    for version in table.VERSIONS:
        assert [row["name"] for row in TABLE[version]] == table.ENTITY_NAMES


def _reads(resource: Resource) -> bool:
    try:
        target_of(resource)
    except BadRequestError:
        return False
    return True


@pytest.mark.parametrize(("version", "row"), ROWS, ids=IDS)
def test_entity_names_are_pulsars(version: str, row: dict[str, Any]) -> None:
    name = row["name"]
    assert is_entity_name(name) == row["tenant"] == row["namespace"]
    assert row["named_entity"] == (row["tenant"] or name == "")  # checkName alone lets "" through
    assert _reads(Resource(tenant=name)) == (row["tenant"] or name == "")  # "": no tenant (list_tenants)
    assert _reads(Resource(tenant=name, namespace=f"{name}/ns")) == row["tenant"]
    assert _reads(Resource(tenant="acme", namespace=f"acme/{name}")) == row["namespace"]
    assert _reads(Resource(cluster=name)) == (row["named_entity"])


@pytest.mark.parametrize(("version", "row"), ROWS, ids=IDS)
def test_topic_names_are_pulsars(version: str, row: dict[str, Any]) -> None:
    """A topic whose tenant, namespace or own name Pulsar refuses is refused; v1 names (a `/` in the
    local name reads as one in 4.0) are refused as meshgate always has."""
    name = row["name"]
    for place, topic in [
        ("topic_tenant", f"persistent://{name}/ns/t"),
        ("topic_namespace", f"persistent://acme/{name}/t"),
        ("topic_local", f"persistent://acme/ns/{name}"),
    ]:
        v1 = "/" in name and row[place]  # Pulsar 4.0 reads these as v1 names; meshgate refuses them
        try:
            resource = parse_resource(topic)
        except BadRequestError:
            assert not row[place] or v1, topic
            continue
        assert _reads(resource) == (row[place] and not v1), topic
    if "/" not in name:
        assert is_local_name(name) == row["topic_local"]


@pytest.mark.parametrize("name", [".", "..", "...", "a:b=c", "-", "="])
def test_odd_but_legal_names_are_matched_literally(name: str) -> None:
    """No path semantics: `..` is a namespace named `..`, matched by `*` and by its own literal only."""
    target = target_of(parse_resource(f"persistent://acme/{name}/orders"))
    assert target == Target("persistent", "acme", name, "orders")
    assert parse_resource_pattern("persistent://acme/*/orders").matches(target)
    assert parse_resource_pattern(f"persistent://acme/{name}/orders").matches(target)
    assert not parse_resource_pattern("persistent://acme/x/orders").matches(target)
    assert not parse_resource_pattern("acme/other").matches(target)


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("\u00e4cme", "tenant '\u00e4cme' can never match"),
        ("acme/pay+x", "namespace 'pay+x' can never match"),
        ("persistent://acme/p@y/*", "namespace 'p@y' can never match"),
        ("cluster:us#1", "cluster 'us#1' can never match"),
    ],
)
def test_a_rule_naming_what_pulsar_refuses_is_an_error(pattern: str, message: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_resource_pattern(pattern)
    assert message in info.value.message
    assert "Pulsar accepts only the ASCII letters, digits, '_', '-', '=', ':' and '.'" in info.value.message


@pytest.mark.parametrize("pattern", ["a*", "{ns}-team", "acme/*", "persistent://{t}/a.b/*", "cluster:*"])
def test_wildcards_and_captures_stay_allowed(pattern: str) -> None:
    parse_resource_pattern(pattern)


@pytest.mark.parametrize(
    "resource",
    [
        Resource(tenant="a b"),
        Resource(tenant="\u00e4cme", namespace="\u00e4cme/pay"),
        Resource(tenant="acme", namespace="acme/pay", topic="persistent://acme/pay/ "),
        Resource(tenant="a+b", namespace="a+b/pay", topic="persistent://a+b/pay/orders"),
        Resource(cluster="us#1"),
    ],
    ids=["tenant", "namespace", "blank-topic", "topic-tenant", "cluster"],
)
def test_a_name_pulsar_refuses_is_denied_even_under_an_allow_of_everything(
    tmp_path: Path, resource: Resource
) -> None:
    """On the old code these were allowed by `allow * on *`: meshgate read names Pulsar never would."""
    (tmp_path / "p.yaml").write_text(
        "apiVersion: meshgate.dev/v1\nkind: AccessPolicy\nmetadata: {name: p}\nrules:\n"
        "  - {name: all, effect: allow, subjects: [{role: app}], actions: ['*'], resources: ['*']}\n"
    )
    decision = load_policy(tmp_path).decide(AccessRequest("app", "topic.lookup", resource))
    assert (decision.allowed, decision.reason_code) == (False, "invalid_resource")
    assert "is not a name Pulsar accepts" in decision.reason
