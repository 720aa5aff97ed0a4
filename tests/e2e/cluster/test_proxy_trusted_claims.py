"""The combination we warn against: brokers that take the proxy's word for who the client is
(`authenticateOriginalAuthData=false`, the Apache chart's own shape). X.509-SVID clients then work through the
proxy, but the brokers never see a token: OIDC group rules stop matching (they fail closed), and whoever holds
the proxy's credential can name any principal.

The module restarts both brokers with that one key changed and restores the deployed keys afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator

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
    sso_token,
    tls_client,
    token_client,
    topic_on,
)
from tests.support.brokers import LINES

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def trusting(cluster: PulsarCluster) -> Iterator[PulsarCluster]:
    if cluster.settings.line != LINES[0]:
        pytest.skip(f"two broker restarts: pulsar {LINES[0]} only")
    for broker in cluster.brokers:
        seconds = broker.restart({"authenticateOriginalAuthData": "false"})
        print(f"\n{broker.name} restarted trusting the proxy's claims in {seconds:.1f}s")
    try:
        yield cluster
    finally:
        for broker in cluster.brokers:
            broker.restart({})


def test_svid_clients_produce_and_consume_through_a_trusted_proxy(trusting: PulsarCluster) -> None:
    broker = other_broker(trusting)
    topic = topic_on(trusting, broker, "svid")
    with tls_client(trusting, "reader") as reader, tls_client(trusting, "writer") as writer:
        consumer = reader.subscribe(topic, "billing")
        writer.create_producer(topic).send(b"through the proxy")
        message = consumer.receive(timeout_millis=10_000)
        consumer.acknowledge(message)
        assert message.data() == b"through the proxy"
        with pytest.raises(pulsar.AuthorizationError):
            reader.create_producer(topic)
    records = audit_records(broker.sidecar, topic, want=3)
    decided = decisions(records)
    assert {(WRITER, "topic.produce", "allow"), (READER, "topic.consume", "allow")} <= decided, records
    assert (READER, "topic.produce", "deny") in decided, records
    assert dev_pki.PROXY_ID not in principals(records)


def test_oidc_group_rule_does_not_match_when_brokers_trust_the_proxy(trusting: PulsarCluster) -> None:
    broker = other_broker(trusting)
    topic = topic_on(trusting, broker, "oncall-trusted")
    with (
        token_client(trusting, sso_token("alice", ["payments-oncall"])) as alice,
        pytest.raises(pulsar.AuthorizationError),
    ):
        alice.subscribe(topic, "replay")
    records = audit_records(trusting.brokers[0].sidecar, topic) + audit_records(broker.sidecar, topic)
    denied = [r for r in records if "alice@example.com" in r["principal"]]
    assert denied, records
    # The broker took the proxy's word for the principal: no credential of alice's was verified there.
    assert all(r["decision"] == "deny" and r["credential_kind"] == "unknown" for r in denied), records
