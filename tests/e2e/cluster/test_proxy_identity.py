"""Workload identities through the Pulsar proxy, to a topic the other broker owns (a redirected lookup).

The proxy authenticates the client with meshgate's providers (its own sidecar) and forwards the client's
principal and credential; with the deployed `authenticateOriginalAuthData=true` the owning broker verifies
that credential again through its own sidecar and decides on the client, never on the proxy.
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
    decisions,
    other_broker,
    principals,
    tls_client,
    token_client,
    topic_on,
)
from tests.support.k8s_tokens import sa_token

pytestmark = pytest.mark.e2e


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
        with pytest.raises(pulsar.AuthorizationError):
            writer.subscribe(topic, "sneaky")
    records = audit_records(broker.sidecar, topic, want=4)
    decided = decisions(records)
    assert (WRITER, "topic.produce", "allow") in decided, records
    assert (READER, "topic.consume", "allow") in decided, records
    assert (READER, "topic.produce", "deny") in decided, records
    assert (WRITER, "topic.consume", "deny") in decided, records
    assert dev_pki.PROXY_ID not in principals(records), "decisions are on the client, never the proxy"


def test_svid_client_through_the_proxy_is_refused_when_brokers_verify_forwarded_credentials(
    cluster: PulsarCluster,
) -> None:
    """Pulsar re-authenticates a forwarded `tls` login with the proxy's own connection, which carries no
    client certificate: the broker cannot verify an SVID the proxy terminated, so it refuses the client
    (fail closed). SVID workloads connect to a broker's TLS port, or see test_proxy_trusted_claims."""
    broker = other_broker(cluster)
    topic = topic_on(cluster, broker, "svid-refused")
    with tls_client(cluster, "writer", timeout=3) as writer, pytest.raises(pulsar.PulsarException):
        writer.create_producer(topic)
    assert (WRITER, "topic.produce", "allow") not in decisions(
        audit_records(broker.sidecar, topic, timeout=1)
    )
    with tls_client(cluster, "writer", url=broker.service_url_tls) as direct:
        direct.create_producer(topic).send(b"straight to the owning broker")
