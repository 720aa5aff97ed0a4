"""X.509-SVID and Kubernetes-token clients through the Pulsar proxy to a topic the other broker owns.

The proxy authenticates the client with meshgate's providers (its own sidecar) and forwards the client's
principal; the owning broker's sidecar decides on that principal, never the proxy's, and audits it.
"""

from __future__ import annotations

import pulsar
import pytest

from devtools import pki as dev_pki
from devtools.cluster import PulsarCluster
from tests.e2e.cluster.helpers import (
    READER,
    WRITER,
    audit_records,
    other_broker,
    principals,
    tls_client,
    token_client,
    topic_on,
)
from tests.e2e.test_oidc_e2e import sa_token

pytestmark = pytest.mark.e2e


def test_svid_clients_produce_and_consume_through_the_proxy_on_the_other_broker(
    cluster: PulsarCluster,
) -> None:
    broker = other_broker(cluster)
    topic = topic_on(cluster, broker, "svid")
    with tls_client(cluster, "reader") as reader, tls_client(cluster, "writer") as writer:
        consumer = reader.subscribe(topic, "billing")
        writer.create_producer(topic).send(b"through the proxy")
        message = consumer.receive(timeout_millis=10_000)
        consumer.acknowledge(message)
        assert message.data() == b"through the proxy"
        with pytest.raises(pulsar.AuthorizationError):
            reader.create_producer(topic)
        with pytest.raises(pulsar.AuthorizationError):
            writer.subscribe(topic, "sneaky")
    records = audit_records(broker.sidecar, topic, want=4)
    decided = {(r["principal"], r["action"], r["decision"]) for r in records if r["event"] == "authorize"}
    assert (WRITER, "topic.produce", "allow") in decided, records
    assert (READER, "topic.consume", "allow") in decided, records
    assert (READER, "topic.produce", "deny") in decided, records
    assert (WRITER, "topic.consume", "deny") in decided, records
    assert dev_pki.PROXY_ID not in principals(records), "decisions are on the client, never the proxy"


def test_token_clients_produce_and_consume_through_the_proxy_on_the_other_broker(
    cluster: PulsarCluster,
) -> None:
    broker = other_broker(cluster)
    topic = topic_on(cluster, broker, "token")
    with (
        token_client(cluster, sa_token("reader")) as reader,
        token_client(cluster, sa_token("writer")) as writer,
    ):
        consumer = reader.subscribe(topic, "billing")
        writer.create_producer(topic).send(b"token through the proxy")
        assert consumer.receive(timeout_millis=10_000).data() == b"token through the proxy"
        with pytest.raises(pulsar.AuthorizationError):
            reader.create_producer(topic)
    records = audit_records(broker.sidecar, topic, want=3)
    decided = {(r["principal"], r["action"], r["decision"]) for r in records if r["event"] == "authorize"}
    assert (WRITER, "topic.produce", "allow") in decided, records
    assert (READER, "topic.produce", "deny") in decided, records
    assert dev_pki.PROXY_ID not in principals(records)
