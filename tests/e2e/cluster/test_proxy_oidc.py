"""OIDC group rules through the proxy: the claims survive the hop only when the broker verifies the token the
proxy forwards (proxy `forwardAuthorizationCredentials=true`, broker `authenticateOriginalAuthData=true`, the
proxy's role in the broker's `proxyRoles`) -- the deployed combination. The combination we warn against is in
test_proxy_trusted_claims.py."""

from __future__ import annotations

import pulsar
import pytest

from devtools import pki as dev_pki
from devtools.cluster import PulsarCluster
from tests.e2e.cluster.helpers import (
    audit_records,
    other_broker,
    principals,
    sso_token,
    token_client,
    topic_on,
)

pytestmark = pytest.mark.e2e
RULE = "proxy.yaml#sso-oncall-reads-payments"


def test_oidc_group_rule_matches_through_the_proxy(cluster: PulsarCluster) -> None:
    broker = other_broker(cluster)
    topic = topic_on(cluster, broker, "oncall")
    with token_client(cluster, sso_token("alice", ["payments-oncall"])) as alice:
        alice.subscribe(topic, "replay").close()
    with (
        token_client(cluster, sso_token("bob", ["marketing"])) as bob,
        pytest.raises(pulsar.AuthorizationError),
    ):
        bob.subscribe(topic, "replay")
    every = [r for sidecar in cluster.sidecars for r in audit_records(sidecar, topic, timeout=1)]
    records = [r for r in every if r["action"] == "topic.consume"]
    alice_allowed = [r for r in records if "alice@example.com" in r["principal"] and r["decision"] == "allow"]
    assert alice_allowed and alice_allowed[0]["rule_id"] == RULE, records
    assert alice_allowed[0]["credential_kind"] == "oidc", "the owning broker verified the token itself"
    assert any("bob@example.com" in r["principal"] and r["decision"] == "deny" for r in records), records
    assert dev_pki.PROXY_ID not in principals(records)
