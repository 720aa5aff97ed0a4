"""Pulsar's own admin CLI (pulsar-admin, PulsarAdminTool) through the proxy, and the brokers' internal client:
topic policies live in a system topic (`__change_events`) that the owning broker writes and reads with its
internal client and the deployed credentials."""

from __future__ import annotations

import json

import pytest

from devtools.cluster import CLUSTER, PulsarCluster
from tests.e2e.cluster.helpers import other_broker, topic_on

pytestmark = pytest.mark.e2e


def test_admin_cli_lists_both_brokers_through_the_proxy(cluster: PulsarCluster) -> None:
    code, out = cluster.admin_cli("brokers", "list", CLUSTER)
    assert code == 0, out
    assert all(broker.broker_id in out for broker in cluster.brokers), out


def test_topic_policies_round_trip_through_the_brokers_internal_client(cluster: PulsarCluster) -> None:
    topic = topic_on(cluster, other_broker(cluster), "policies")
    code, out = cluster.admin_cli("topics", "create", topic)
    assert code == 0, out
    code, out = cluster.admin_cli("topicPolicies", "set-message-ttl", topic, "--ttl", "120")
    assert code == 0, out
    path = "/admin/v2/" + topic.replace("://", "/") + "/messageTTL"
    status, body = cluster.admin("GET", path)
    assert status == 200 and json.loads(body) == 120, (status, body)


def test_admin_cli_as_a_workload_is_refused_by_policy(cluster: PulsarCluster) -> None:
    code, out = cluster.admin_cli("tenants", "list", identity="writer")
    assert code != 0 and ("401" in out or "403" in out or "Unauthorized" in out or "not authorized" in out), (
        out
    )
