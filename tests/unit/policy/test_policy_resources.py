"""Resource patterns, partitions, and the normalized resource of a request."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from meshgate.errors import BadRequestError, PolicyError
from meshgate.model import Resource
from meshgate.policy import resources
from meshgate.policy.patterns import glob_match, parse_segment
from meshgate.policy.resources import Scope, Target, parse_resource, parse_resource_pattern, target_of


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("orders", "orders", True),
        ("orders-*", "orders-eu", True),
        ("orders-*", "orders-", True),
        ("*-eu", "orders-eu", True),
        ("*-eu-*", "a-eu-b", True),
        ("a*a", "a", False),
        ("a*a", "aa", True),
        ("*", "", True),
        ("x*y*z", "xzzyz", True),
        ("x*y*z", "xzz", False),
    ],
)
def test_glob(pattern: str, value: str, expected: bool) -> None:
    assert glob_match(pattern.split("*"), value) is expected


def test_segment_with_capture() -> None:
    segment = parse_segment("{ns}-team")
    assert segment.variables == {"ns"}
    assert segment.matches("orders-team", {"ns": "orders"})
    assert not segment.matches("orders-team", {"ns": "order"})
    assert segment.literal is None
    assert parse_segment("acme").literal == "acme"


T = Target("persistent", "acme", "payments", "orders")


@pytest.mark.parametrize(
    ("pattern", "target", "expected"),
    [
        ("*", Target(), True),
        ("acme", T, True),
        ("acme/payments", T, True),
        ("acme/*", T, True),
        ("acme/billing", T, False),
        ("persistent://acme/payments/orders", T, True),
        ("persistent://acme/payments/ord*", T, True),
        ("persistent://*/*/*", T, True),
        ("non-persistent://acme/payments/orders", T, False),
        ("persistent://acme/payments/orders", Target(tenant="acme", namespace="payments"), False),
        ("acme", Target(cluster="c"), False),
        ("cluster:prod-*", Target(cluster="prod-eu"), True),
        ("cluster:prod-*", T, False),
    ],
)
def test_pattern_matches(pattern: str, target: Target, expected: bool) -> None:
    assert parse_resource_pattern(pattern).matches(target) is expected


def test_tenant_literal_for_index() -> None:
    assert parse_resource_pattern("persistent://acme/*/*").tenant_literal == "acme"
    assert parse_resource_pattern("acme-*/x").tenant_literal is None
    assert parse_resource_pattern("{ns}").tenant_literal is None
    assert parse_resource_pattern("*").tenant_literal is None
    assert parse_resource_pattern("cluster:x").scope is Scope.CLUSTER


@pytest.mark.parametrize(
    "text",
    [
        "*",
        "cluster:prod-*",
        "acme",
        "acme/payments",
        "acme-*/{ns}",
        "persistent://acme/payments/a.b",
        "non-persistent://t/{ns}/orders-*",
    ],
)
def test_a_pattern_holds_literal_segments_as_text_and_gives_them_back(text: str) -> None:
    """A decision compares a literal segment as the text the pattern holds; who-can and lint still get
    every segment as a SegmentPattern, and the text as written."""
    pattern = parse_resource_pattern(text)
    for held, segment in zip(pattern.held, pattern.segments, strict=True):
        assert held == segment.literal if isinstance(held, str) else held is segment
    assert pattern.text == text


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("a/b/c", "'a/b/c': a topic needs persistent:// or non-persistent:// in front"),
        ("kafka://a/b/c", "'kafka://a/b/c': topic domain must be persistent or non-persistent, not 'kafka'"),
        ("persistent://a/b", "'persistent://a/b': a topic pattern is <domain>://<tenant>/<namespace>/<topic>"),
        ("persistent://a/b/t-partition-1", "'persistent://a/b/t-partition-1' names a partition; name the "
                                           "partitioned topic instead"),
        ("acme/", "empty name segment"),
        ("acme/{ns", "'{ns' has a malformed capture: use {name} with lower-case letters, digits, '_'"),
    ],
)  # fmt: skip
def test_pattern_errors(text: str, error: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_resource_pattern(text)
    assert info.value.message == error


def test_bind_extracts_captures() -> None:
    pattern = parse_resource_pattern("persistent://{ns}-team/*/*")
    assert pattern.bind(Target("persistent", "orders-team", "a", "b")) == {"ns": "orders"}
    assert pattern.bind(Target("persistent", "orders", "a", "b")) is None


@pytest.mark.parametrize(
    ("resource", "target"),
    [
        (Resource(topic="persistent://acme/payments/orders-partition-12"), T),
        (Resource(topic="persistent://acme/payments/orders"), T),
        (Resource(topic="Persistent://acme/payments/orders-partition-0"), T),  # Pulsar 4.2 sends it as typed
        (
            Resource(topic="persistent://acme/payments/orders-partition-03"),
            Target("persistent", "acme", "payments", "orders-partition-03"),
        ),
        (
            Resource(topic="non-persistent://acme/payments/x"),
            Target("non-persistent", "acme", "payments", "x"),
        ),
        (Resource(tenant="acme", namespace="acme/payments"), Target(tenant="acme", namespace="payments")),
        (Resource(tenant="acme"), Target(tenant="acme")),
        (Resource(cluster="c", broker="b:1"), Target(cluster="c")),
        (Resource(), Target()),
    ],
)
def test_target_of(resource: Resource, target: Target) -> None:
    assert target_of(resource) == target


@pytest.mark.parametrize(
    "resource",
    [
        Resource(topic="acme/payments/x"),
        Resource(topic="persistent://acme/payments"),
        Resource(topic="persistent://acme//x"),
        Resource(topic="kafka://acme/payments/x"),
        Resource(namespace="acme"),
        Resource(namespace="acme/"),
    ],
)
def test_target_of_rejects_malformed(resource: Resource) -> None:
    with pytest.raises(BadRequestError):
        target_of(resource)


@pytest.mark.parametrize(
    ("resource", "error"),
    [
        (
            Resource("acme", "acme/us-east/payments", "persistent://acme/us-east/payments/orders"),
            "topic 'persistent://acme/us-east/payments/orders' is a v1 name "
            "(<domain>://<tenant>/<cluster>/<namespace>/<topic>); meshgate decides v2 names only: "
            "<domain>://<tenant>/<namespace>/<topic>",
        ),
        (
            Resource(topic="persistent://acme/payments/orders/x"),  # Pulsar reads payments as a cluster
            "topic 'persistent://acme/payments/orders/x' is a v1 name "
            "(<domain>://<tenant>/<cluster>/<namespace>/<topic>); meshgate decides v2 names only: "
            "<domain>://<tenant>/<namespace>/<topic>",
        ),
        (
            Resource("acme", "acme/us-east/payments"),
            "namespace 'acme/us-east/payments' is a v1 name (<tenant>/<cluster>/<namespace>); "
            "meshgate decides v2 names only: <tenant>/<namespace>",
        ),
        (
            Resource(topic="persistent://acme/payments/-partition-1"),
            "topic 'persistent://acme/payments/-partition-1' is a partition of a topic without a name",
        ),
    ],
)
def test_target_of_refuses_v1_names(resource: Resource, error: str) -> None:
    with pytest.raises(BadRequestError) as info:
        target_of(resource)
    assert info.value.message == error


@pytest.mark.parametrize(
    ("text", "resource"),
    [
        ("persistent://a/b/c", Resource(tenant="a", namespace="a/b", topic="persistent://a/b/c")),
        # what the shim sends for a v1 name (the decision refuses it, as it refuses it from the broker)
        ("persistent://a/x/b/c", Resource(tenant="a", namespace="a/x/b", topic="persistent://a/x/b/c")),
        ("a/b", Resource(tenant="a", namespace="a/b")),
        ("a/x/b", Resource(tenant="a", namespace="a/x/b")),
        ("a", Resource(tenant="a")),
        ("cluster:c", Resource(cluster="c")),
        ("", Resource()),
    ],
)
def test_parse_resource(text: str, resource: Resource) -> None:
    assert parse_resource(text) == resource


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("persistent://a/b", "topic 'persistent://a/b' is not <domain>://<tenant>/<namespace>/<topic>"),
        ("kafka://a/b/c", "topic 'kafka://a/b/c' is not <domain>://<tenant>/<namespace>/<topic>"),
        ("a//b", "'a//b' is not a tenant or <tenant>/<namespace>; a topic needs persistent:// in front"),
        (
            "a/b/c/d",
            "'a/b/c/d' is not a tenant or <tenant>/<namespace>; a topic needs persistent:// in front",
        ),
    ],
)
def test_parse_resource_rejects_what_pulsar_would_not_read(text: str, error: str) -> None:
    with pytest.raises(BadRequestError) as info:
        parse_resource(text)
    assert info.value.message == error


@pytest.mark.parametrize(
    "text",
    [
        "persistent://a/b/t-partition-0",
        "persistent://a/b/t-partition-\u0663",
        "non-persistent://a/b/x-partition-7",
    ],
)
def test_pattern_naming_a_partition_is_refused(text: str) -> None:
    with pytest.raises(PolicyError, match="names a partition"):
        parse_resource_pattern(text)


@pytest.mark.parametrize(
    ("text", "instead"),
    [
        ("persistent://acme/payments/a/*", "like 'persistent://acme/payments/a-*', or 'acme/payments'"),
        ("persistent://acme/payments/*/orders", "like 'persistent://acme/payments/*-orders'"),
        ("non-persistent://t/*/a/b/c", "like 'non-persistent://t/*/a-b-c', or 't/*'"),
        ("persistent://t/ns//x", "like 'persistent://t/ns/-x'"),
        ("persistent://t/ns/x/", "like 'persistent://t/ns/x-'"),
        ("persistent://{ns}-team/n/{ns}/*", "like 'persistent://{ns}-team/n/{ns}-*'"),
    ],
)
def test_topic_pattern_with_a_slash_in_its_own_name_is_refused(text: str, instead: str) -> None:
    """A v2 topic's own name holds no `/`: Pulsar reads `persistent://t/ns/a/b` as the v1 topic `b` of
    namespace `t/ns/a` (cluster `ns`), which meshgate refuses (tests/conformance/pulsar_names). Such a
    pattern loaded once and never matched; now it is a load error that says what to write instead."""
    namespace = text.split("/")[3]
    with pytest.raises(PolicyError) as info:
        parse_resource_pattern(text)
    assert info.value.message.startswith(
        f"{text!r} can never match: a topic's own name holds no '/' (Pulsar reads such a name as a v1 name "
        f"whose cluster is '{namespace}'; meshgate decides v2 names only); write the topic without '/', "
    )
    assert instead in info.value.message


@pytest.mark.parametrize(
    "text",
    [
        "persistent://a/b/t-partition-03",
        "persistent://a/b/t-partition-99999999999",
        "persistent://a/b/t-partition-*",
    ],
)
def test_pattern_of_an_ordinary_topic_with_partition_in_its_name_is_accepted(text: str) -> None:
    assert parse_resource_pattern(text).scope is Scope.TOPIC


# Names near the plain v2 form: other domains and cases, v1 names, partitions, blanks, names Pulsar refuses.
_NAME_PART = st.text(alphabet="aZ9_-=:. /\t\u2003é*", max_size=6)
_TOPIC = st.builds(
    lambda domain, parts: f"{domain}://{'/'.join(parts)}",
    st.sampled_from(["persistent", "non-persistent", "Persistent", "http", ""]),
    st.lists(
        st.one_of(_NAME_PART, st.sampled_from(["t-partition-3", "x-partition-03", "-partition-1"])),
        max_size=5,
    ),
)


def _read(read: Callable[[Resource], Target], resource: Resource) -> Target | str:
    try:
        return read(resource)
    except BadRequestError as exc:
        return exc.message


@settings(max_examples=3000, deadline=None)
@given(topic=_TOPIC, cluster=st.sampled_from(["", "c1", "bad name"]))
@example(topic="persistent://a/b/\t\u2003", cluster="")
@example(topic="persistent://a/b/ x", cluster="")
@example(topic="persistent://a/b/x-partition-2", cluster="")
def test_the_fast_path_reads_a_topic_as_the_full_path_does(topic: str, cluster: str) -> None:
    """`target_of` takes a short way for plain v2 names: the Target, or the error, of the full way."""
    resource = Resource(topic=topic, cluster=cluster)
    assert _read(target_of, resource) == _read(resources._topic_target, resource)


@pytest.mark.parametrize(
    "text",
    [
        "*",
        "cluster:eu-*",
        "acme",
        "acme/payments",
        "{ns}-team/*",
        "persistent://acme/payments/orders",
        "non-persistent://acme/*/a-b-*-{x}",
        "persistent://t/../.",
    ],
)
def test_pattern_text_is_written_again_as_it_was(text: str) -> None:
    """A pattern keeps no text of its own: who-can, diff and report show the one its segments give."""
    pattern = parse_resource_pattern(text)
    assert pattern.text == text
    assert hash(pattern) == hash(text)
    assert pattern == parse_resource_pattern(text)
