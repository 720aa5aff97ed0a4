"""The proxy's own role gets nothing beyond relaying, and no client can be the proxy.

meshgate's policy grants the proxy's identity nothing (tests/e2e/cluster/policies/proxy.yaml); the brokers
list it in `proxyRoles` and `superUserRoles` so that it passes its half of Pulsar's two-part check (proxy role
AND client) and the client's half decides. Pulsar refuses a proxy role that names no client, and a client
whose principal is a proxy role.
"""

from __future__ import annotations

import pulsar
import pytest

from devtools import pki as dev_pki
from devtools.cluster import PulsarCluster
from tests.e2e.cluster.helpers import (
    audit_records,
    decisions,
    other_broker,
    tls_client,
    token_client,
    topic_on,
)
from tests.support.k8s_tokens import service_account_token

pytestmark = pytest.mark.e2e
SHORT = 3  # seconds: a refused connection is retried by the client until its operation deadline


def test_the_proxy_credential_alone_does_nothing_on_a_broker(cluster: PulsarCluster) -> None:
    broker = other_broker(cluster)
    topic = topic_on(cluster, broker, "proxy-alone")
    proxy_token = service_account_token(
        "pulsar", "proxy", expires_in=7200
    )  # the proxy's service account, as a token
    with (
        token_client(cluster, proxy_token, url=broker.service_url) as proxy,
        pytest.raises(pulsar.PulsarException),
    ):
        proxy.create_producer(topic)
    with (
        tls_client(cluster, "proxy-client", url=broker.service_url_tls, timeout=SHORT) as proxy,
        pytest.raises(pulsar.PulsarException),
    ):
        proxy.create_producer(topic)
    status, body = broker.admin("GET", "/admin/v2/tenants", identity="proxy-client")
    assert status == 401 and "Original principal cannot be empty" in body, (status, body)


def test_a_client_cannot_claim_to_be_the_proxy(cluster: PulsarCluster) -> None:
    broker = other_broker(cluster)
    topic = topic_on(cluster, broker, "claim-proxy")
    # A token for the proxy's service account, presented to the proxy: its principal is a proxy role.
    with (
        token_client(cluster, service_account_token("pulsar", "proxy", expires_in=7200)) as client,
        pytest.raises(pulsar.PulsarException),
    ):
        client.create_producer(topic)
    # A workload naming someone else in X-Original-Principal, straight to a broker or through the proxy.
    claim = {"X-Original-Principal": dev_pki.BROKER_ID}
    status, _ = broker.admin("GET", "/admin/v2/tenants", identity="writer", headers=claim)
    assert status in (401, 403), status
    status, _ = cluster.admin("GET", "/admin/v2/tenants", identity="writer", headers=claim)
    assert status in (401, 403), "a client's header through the proxy must not name the principal"
    assert not any(r["decision"] == "allow" for r in audit_records(broker.sidecar, topic, timeout=1))


def test_the_proxy_identity_is_granted_nothing_by_policy(cluster: PulsarCluster) -> None:
    """Every sidecar's audit: no decision was ever made for the proxy's identity, so none allowed it."""
    broker = other_broker(cluster)
    topic = topic_on(cluster, broker, "proxy-nothing")
    with token_client(cluster, service_account_token("payments", "writer", expires_in=7200)) as writer:
        writer.create_producer(topic).send(b"relayed")
    for sidecar in cluster.sidecars:
        assert not [
            d for d in decisions(audit_records(sidecar, topic, timeout=1)) if d[0] == dev_pki.PROXY_ID
        ]
