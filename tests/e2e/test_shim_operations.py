"""The shim answers every family of broker questions (issue #6), through a real broker on 4.0 and 4.2.

Each family is allowed once and denied once: binary produce / consume / lookup, topic admin (stats),
namespace, tenant, namespace policy, topic policy, cluster and broker operations over the HTTPS admin API
(client certificate per identity), tenant-admin writes, and grant/revoke refused as "managed in git".
Rules for the test identities live in tests/e2e/policies/shim_e2e.yaml.
"""

from __future__ import annotations

import urllib.error
import urllib.request
import uuid

import pulsar
import pytest

from devtools import pki as dev_pki
from devtools.broker import StandaloneBroker
from tests.support.pulsar_clients import tls_client as client

pytestmark = pytest.mark.e2e


def _topic_name() -> str:
    return f"ops-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def topic(broker: StandaloneBroker, pki: dev_pki.DevPki) -> str:
    """A topic that exists (the writer produced one message to it)."""
    name = _topic_name()
    with client(broker, pki, "writer") as writer:
        writer.create_producer(f"persistent://acme/payments/{name}").send(b"hello")
    return name


def _status(
    broker: StandaloneBroker, identity: str, path: str, method: str = "GET", body: object = None
) -> int:
    status, _ = broker.admin_request(method, path, body, identity)
    return status


def test_binary_produce_consume_and_lookup_follow_the_policy(
    broker: StandaloneBroker, pki: dev_pki.DevPki
) -> None:
    topic = f"persistent://acme/payments/{_topic_name()}"
    with client(broker, pki, "writer") as writer, client(broker, pki, "reader") as reader:
        writer.create_producer(topic).close()  # lookup + produce allowed
        reader.subscribe(topic, "billing").close()  # lookup + consume allowed
        with pytest.raises(pulsar.AuthorizationError):
            reader.create_producer(topic)
        with pytest.raises(pulsar.AuthorizationError):
            writer.subscribe(topic, "sneaky")
    with client(broker, pki, "stranger") as stranger, pytest.raises(pulsar.AuthorizationError):
        stranger.get_topic_partitions(topic)  # a lookup the policy does not grant


def test_http_lookup_is_authorized(broker: StandaloneBroker, topic: str) -> None:
    path = f"/lookup/v2/topic/persistent/acme/payments/{topic}"
    assert _status(broker, "writer", path) == 200
    assert _status(broker, "stranger", path) in (401, 403)


@pytest.mark.parametrize(
    "path",
    [
        "/admin/v2/persistent/acme/payments/{topic}/stats",  # topic operation get_stats
        "/admin/v2/namespaces/acme/payments/topics",  # namespace operation get_topics
        "/admin/v2/namespaces/acme",  # tenant operation list_namespaces
        "/admin/v2/namespaces/acme/payments/retention",  # namespace policy retention read
        "/admin/v2/persistent/acme/payments/{topic}/retention",  # topic policy retention read
        "/admin/v2/clusters/standalone",  # cluster operation get_cluster
        "/admin/v2/brokers/standalone",  # broker operation list_brokers
    ],
    ids=["topic", "namespace", "tenant", "namespace-policy", "topic-policy", "cluster", "broker"],
)
def test_admin_read_allowed_for_the_viewer_and_denied_for_a_stranger(
    broker: StandaloneBroker, topic: str, path: str
) -> None:
    # (Payments workloads may view acme/payments through the example rule payments-workloads-view.)
    url = path.format(topic=topic)
    assert _status(broker, "viewer", url) == 200
    assert _status(broker, "stranger", url) in (401, 403)


def test_tenant_admin_writes_and_others_are_refused(broker: StandaloneBroker) -> None:
    namespace = f"/admin/v2/namespaces/acme/adm-{uuid.uuid4().hex[:6]}"
    assert _status(broker, "writer", namespace, "PUT") in (401, 403)
    assert _status(broker, "viewer", namespace, "PUT") in (401, 403)
    assert _status(broker, "acme-admin", namespace, "PUT") == 204
    assert _status(broker, "acme-admin", namespace + "/retention", "POST", {
        "retentionTimeInMinutes": 10, "retentionSizeInMB": 10
    }) == 204  # fmt: skip
    assert _status(broker, "acme-admin", namespace, "DELETE") == 204


PERMISSION_ENDPOINTS = [
    ("POST", "/admin/v2/namespaces/acme/payments/permissions/someone", ["produce"]),
    ("DELETE", "/admin/v2/namespaces/acme/payments/permissions/someone", None),
    ("GET", "/admin/v2/namespaces/acme/payments/permissions", None),
    ("POST", "/admin/v2/namespaces/acme/payments/permissions/subscription/sub-a", ["someone"]),
    ("DELETE", "/admin/v2/namespaces/acme/payments/permissions/sub-a/someone", None),
    ("GET", "/admin/v2/namespaces/acme/payments/permissions/subscription", None),
    ("POST", "/admin/v2/persistent/acme/payments/{topic}/permissions/someone", ["produce"]),
    ("DELETE", "/admin/v2/persistent/acme/payments/{topic}/permissions/someone", None),
    ("GET", "/admin/v2/persistent/acme/payments/{topic}/permissions", None),
]


@pytest.mark.parametrize(("method", "path", "body"), PERMISSION_ENDPOINTS)
def test_permission_management_says_where_permissions_live(
    broker: StandaloneBroker, topic: str, method: str, path: str, body: object
) -> None:
    # As the super user, so the request gets past the admin checks and reaches the provider.
    status, text = broker.admin_request(method, path.format(topic=topic), body)
    assert status == 501, (status, text)
    assert "permissions are managed in the meshgate policy repository (" in text, text
    assert "\tat " not in text and "Exception" not in text, f"a stack trace reached the client: {text}"


def test_http_bearer_tokens_go_through_the_token_provider(broker: StandaloneBroker) -> None:
    request = urllib.request.Request(
        broker.web_url + "/admin/v2/namespaces/acme",
        headers={"Authorization": "Bearer not-a-jwt", "X-Pulsar-Auth-Method-Name": "token"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 401
