"""Clients through the proxy, topics placed on a chosen broker, and the audit records of one sidecar."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pulsar

from devtools import pki as dev_pki
from devtools.cluster import ClusterBroker, PulsarCluster
from devtools.service import MeshgateProcess, audit_file
from tests.conformance.oidc.mint import mint, signing_keys
from tests.e2e.cluster.conftest import SSO_ISSUER, SSO_KEY

TIMEOUT = 10  # seconds: every client call has a deadline, no test sleeps for a fixed time


def _quiet() -> pulsar.ConsoleLogger:
    """The C++ client's own log at WARN: its INFO lines about every reconnect drown the test output."""
    return pulsar.ConsoleLogger(pulsar.LoggerLevel.Warn)


@contextmanager
def tls_client(
    cluster: PulsarCluster, name: str, url: str | None = None, timeout: int = TIMEOUT
) -> Iterator[pulsar.Client]:
    """A client with `name`'s X.509-SVID on the proxy's TLS port (or on `url`)."""
    pki = cluster.settings.pki
    client = pulsar.Client(
        url or cluster.service_url_tls,
        authentication=pulsar.AuthenticationTLS(str(pki.cert(name)), str(pki.key(name))),
        tls_trust_certs_file_path=str(pki.ca_file),
        operation_timeout_seconds=timeout,
        connection_timeout_ms=timeout * 1000,
        logger=_quiet(),
    )
    try:
        yield client
    finally:
        client.close()


@contextmanager
def token_client(cluster: PulsarCluster, token: str, url: str | None = None) -> Iterator[pulsar.Client]:
    """A client with a bearer token on the proxy's TLS port (or on `url`), no client certificate."""
    client = pulsar.Client(
        url or cluster.service_url_tls,
        authentication=pulsar.AuthenticationToken(token),
        tls_trust_certs_file_path=str(cluster.settings.pki.ca_file),
        operation_timeout_seconds=TIMEOUT,
        connection_timeout_ms=TIMEOUT * 1000,
        logger=_quiet(),
    )
    try:
        yield client
    finally:
        client.close()


def owner(cluster: PulsarCluster, topic: str) -> ClusterBroker:
    """The broker that owns `topic` (a lookup as the brokers' super-user assigns it when nobody does). A
    bundle just unloaded answers 500 "Failed to acquire ownership" for a moment: asked again in a deadline."""
    path = "/lookup/v2/topic/" + topic.replace("://", "/")
    deadline = time.monotonic() + TIMEOUT
    while True:
        status, body = cluster.brokers[0].admin("GET", path)
        if status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert status == 200, (status, body)
    url = json.loads(body)["brokerUrl"]
    return next(b for b in cluster.brokers if b.service_url == url)


def move_to(cluster: PulsarCluster, topic: str, broker: ClusterBroker) -> None:
    """Make `broker` own `topic`: assigned by a lookup, and its bundle unloaded with `destinationBroker`
    when the load manager put it elsewhere."""
    for _ in range(5):
        current = owner(cluster, topic)
        if current is broker:
            return
        status, bundle = current.admin("GET", "/lookup/v2/topic/" + topic.replace("://", "/") + "/bundle")
        assert status == 200, (status, bundle)
        unload = f"/admin/v2/namespaces/acme/payments/{bundle.strip()}/unload"
        # The owner unloads; a broker that does not own the bundle (any more) answers 307, not followed
        # for a PUT: ask each broker.
        answers = [b.admin("PUT", f"{unload}?destinationBroker={broker.broker_id}") for b in cluster.brokers]
        assert any(status == 204 for status, _ in answers), answers
    raise AssertionError(f"{topic} did not move to {broker.name}")


def topic_on(cluster: PulsarCluster, broker: ClusterBroker, prefix: str = "proxied") -> str:
    """A fresh topic in acme/payments that `broker` owns."""
    topic = f"persistent://acme/payments/{prefix}-{uuid.uuid4().hex[:8]}"
    move_to(cluster, topic, broker)
    return topic


def topic_per_broker(cluster: PulsarCluster, prefix: str) -> list[str]:
    """One fresh topic owned by each broker, in different bundles (moving one bundle moves its topics)."""
    for _ in range(10):
        topics = [topic_on(cluster, broker, prefix) for broker in cluster.brokers]
        if all(owner(cluster, t) is b for t, b in zip(topics, cluster.brokers, strict=True)):
            return topics
    raise AssertionError("could not place one topic on each broker")


def other_broker(cluster: PulsarCluster) -> ClusterBroker:
    """The broker the proxy does not send its lookups to first: reaching it takes a redirected lookup."""
    return cluster.brokers[1]


def audit_records(
    sidecar: MeshgateProcess, topic: str, want: int = 1, timeout: float = 5
) -> list[dict[str, Any]]:
    """The audit records about `topic` one sidecar wrote, once at least `want` are on disk. Left out: the
    answers broker.conf `superUserRoles` gives the proxy and the brokers without asking, which the shim
    reports to the audit trail (`served_by: shim_superuser`): they are not decisions about a client."""
    path = audit_file(sidecar.config)
    deadline = time.monotonic() + timeout
    while True:
        lines = path.read_text().splitlines() if path.exists() else []
        found = [
            r
            for r in map(json.loads, lines)
            if str(r.get("resource", {}).get("topic", "")) == topic and r.get("served_by") != "shim_superuser"
        ]
        if len(found) >= want or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def principals(records: list[dict[str, Any]]) -> set[str]:
    return {str(r.get("principal")) for r in records}


def sso_token(user: str, groups: list[str]) -> str:
    """An ID token of the test SSO (tests/e2e/cluster/policies/proxy.yaml matches its `groups`)."""
    signer = signing_keys()[SSO_KEY]
    now = int(time.time())
    claims = {
        "iss": SSO_ISSUER,
        "sub": user,
        "email": f"{user}@example.com",
        "aud": ["pulsar"],
        "iat": now - 5,
        "nbf": now - 5,
        "exp": now + 600,
        "groups": groups,
    }
    return mint(signer, {"alg": signer.alg, "typ": "JWT", "kid": signer.kid}, claims)


def decisions(records: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    """(principal, action, decision) of the authorize records."""
    return {(r["principal"], r["action"], r["decision"]) for r in records if r["event"] == "authorize"}


WRITER = dev_pki.WORKLOADS["writer"]
READER = dev_pki.WORKLOADS["reader"]
