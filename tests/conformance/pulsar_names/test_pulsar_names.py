"""meshgate reads Pulsar names as Pulsar's own `TopicName` does (4.0.7 and 4.2.4), so the two cannot drift.

The answers come from `topic_names.json`, which `TopicNameTable.java` printed on each broker classpath;
`test_table_is_what_pulsar_says` re-asks the real `TopicName` whenever a classpath is resolved.
"""

from __future__ import annotations

import shutil
from typing import Any

import pytest
from meshgate.errors import BadRequestError, PolicyError
from meshgate.model import Resource
from meshgate.policy.pulsar_names import partition_index
from meshgate.policy.resources import Target, parse_resource, parse_resource_pattern, target_of

from tests.conformance.pulsar_names import table

TABLE = table.load()
ROWS = [(version, row) for version in table.VERSIONS for row in TABLE[version]["names"]]
ROW_IDS = [f"{version}:{row['name']!r}" for version, row in ROWS]
READ = [(version, row) for version, row in ROWS if row["valid"]]  # the names Pulsar reads
READ_IDS = [f"{version}:{row['name']!r}" for version, row in READ]

# Names Pulsar reads but meshgate refuses (a deny, `invalid_resource`), each for a reason:
REFUSED = {
    # a partition of a topic whose own name would be empty: no rule can name that topic
    "persistent://acme/pay/-partition-3": "is a partition of a topic without a name",
    # Java's equalsIgnoreCase matches the long s to an s; meshgate takes ASCII case only
    "per\u017fistent://acme/pay/orders": "is not <domain>://<tenant>/<namespace>/<topic>",
}


def pulsar_target(row: dict[str, Any]) -> Target:
    """What Pulsar says the name is: the parts of its partitioned topic name (the topic itself if none)."""
    domain, rest = row["partitioned_topic"].split("://")
    tenant, namespace, local = rest.split("/", 2)
    return Target(domain.lower(), tenant, namespace, local)


def shim_resource(row: dict[str, Any]) -> Resource:
    """What the broker shim sends for the name (Actions.topic)."""
    return Resource(tenant=row["tenant"], namespace=row["namespace"], topic=row["string"])


@pytest.mark.parametrize("version", table.VERSIONS)
def test_table_is_what_pulsar_says(version: str) -> None:
    if not table.classpath(version).exists() or shutil.which("java") is None:
        pytest.skip(f"no Pulsar {version} classpath or no java: run `make broker-classpath`")
    assert table.generate(version) == TABLE[version], "Pulsar moved: run `make pulsar-names` and review"


def test_table_covers_every_name() -> None:
    for version in table.VERSIONS:
        assert [row["name"] for row in TABLE[version]["names"]] == table.NAMES


@pytest.mark.parametrize(("version", "row"), ROWS, ids=ROW_IDS)
def test_partition_index_is_pulsars(version: str, row: dict[str, Any]) -> None:
    assert partition_index(row["name"]) == row["partition_index"]


@pytest.mark.parametrize("version", table.VERSIONS)
def test_partition_digits_are_pulsars(version: str) -> None:
    """Every BMP character Pulsar takes as a partition number's digit, and no other."""
    pulsar = {c for lo, hi in TABLE[version]["partition_digit_ranges"] for c in range(lo, hi + 1)}
    ours = {
        c
        for c in range(0x10000)
        if not 0xD800 <= c <= 0xDFFF and partition_index(f"persistent://t/n/x-partition-{chr(c)}") >= 0
    }
    assert ours == pulsar


@pytest.mark.parametrize(("version", "row"), READ, ids=READ_IDS)
def test_meshgate_reads_a_name_as_pulsar_does(version: str, row: dict[str, Any]) -> None:
    """From the broker (the shim's Resource) and from a person (`check`, explain, policy tests) alike."""
    v1 = row["namespace"].count("/") == 2
    readings = [
        (row["string"], lambda: target_of(shim_resource(row))),
        (row["name"], lambda: target_of(parse_resource(row["name"]))),
    ]
    for text, read in readings:
        if v1 or text in REFUSED:
            with pytest.raises(BadRequestError) as info:
                read()
            assert ("is a v1 name" if v1 else REFUSED[text]) in info.value.message
        else:
            assert read() == pulsar_target(row)
    if row["string"] not in REFUSED:  # what the shim sends, typed in, is what the shim sends
        assert parse_resource(row["string"]) == shim_resource(row)


@pytest.mark.parametrize("version", table.VERSIONS)
def test_no_v2_topic_has_a_slash_in_its_own_name(version: str) -> None:
    """Pulsar reads a `/` after `<domain>://<tenant>/<namespace>/` as a v1 name's cluster split (4.0) or
    refuses the name (4.2): no topic meshgate decides has a `/` in its own name, so a rule's topic
    pattern with one could never match, and loading it is an error (`parse_resource_pattern`)."""
    slashed = [row for row in TABLE[version]["names"] if row["name"].partition("://")[2].count("/") > 2]
    assert "persistent://acme/pay/a/*" in [row["name"] for row in slashed]
    for row in slashed:
        assert not row["valid"] or row["namespace"].count("/") == 2, row  # v1, never a v2 local name
        if row["partition_index"] < 0:
            with pytest.raises(PolicyError, match="can never match: a topic's own name holds no '/'"):
                parse_resource_pattern(row["name"])
