"""Policy commits through the proxy, on both brokers: a commit denies a new producer and disconnects a live
one wherever its topic lives, and when a topic's ownership moves (bundle unload) no allow cached under the old
revision is used under the new one."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable

import pulsar
import pytest

from devtools.cluster import ClusterBroker, PulsarCluster
from tests.e2e.cluster.helpers import WRITER, move_to, token_client, topic_on, topic_per_broker
from tests.e2e.test_shim_revocation import PolicyRepo
from tests.support.k8s_tokens import sa_token

pytestmark = pytest.mark.e2e
REVOKE_WITHIN = 3.0


def _repo(cluster: PulsarCluster) -> PolicyRepo:
    return PolicyRepo(cluster.settings.policy_dir, cluster.brokers[0].sidecar)


def _publishers(broker: ClusterBroker, topic: str) -> int:
    status, body = broker.admin("GET", "/admin/v2/" + topic.replace("://", "/") + "/stats")
    assert status == 200, (status, body)
    return len(json.loads(body)["publishers"])


def _within(condition: Callable[[], bool], limit: float) -> float:
    began = time.monotonic()
    while time.monotonic() - began < limit:
        if condition():
            return time.monotonic() - began
        time.sleep(0.05)
    raise AssertionError(f"not true within {limit}s")


def _revisions(cluster: PulsarCluster) -> list[int]:
    return [s.log.read_text(errors="replace").count("active:") for s in cluster.sidecars]


def test_a_commit_disconnects_live_producers_and_denies_new_ones_on_both_brokers(
    cluster: PulsarCluster,
) -> None:
    prefix = f"rv{uuid.uuid4().hex[:6]}"
    topics = topic_per_broker(cluster, prefix)
    with token_client(cluster, sa_token("writer")) as writer:
        for topic in topics:
            writer.create_producer(topic).send(b"before")
        before = _revisions(cluster)
        _repo(cluster).commit(
            prefix, "deny", WRITER, "topic.produce", f"persistent://acme/payments/{prefix}-*"
        )
        for broker, topic in zip(cluster.brokers, topics, strict=True):
            took = _within(lambda b=broker, t=topic: _publishers(b, t) == 0, REVOKE_WITHIN)  # type: ignore[misc]
            print(f"\n{broker.name}: proxied producer disconnected {took * 1000:.0f} ms after the commit")
        assert all(a > b for a, b in zip(_revisions(cluster), before, strict=True))
        for topic in topics:
            with pytest.raises(pulsar.AuthorizationError):
                writer.create_producer(topic)


def test_no_cached_allow_survives_a_revision_when_ownership_moves(cluster: PulsarCluster) -> None:
    first, second = cluster.brokers[1], cluster.brokers[0]
    prefix = f"mv{uuid.uuid4().hex[:6]}"
    topic = topic_on(cluster, first, prefix)
    with token_client(cluster, sa_token("writer")) as writer:
        writer.create_producer(topic).send(b"cached allow on the owner")
        move_to(cluster, topic, second)
        writer.create_producer(topic).send(b"cached allow on the next owner")
        before = _revisions(cluster)
        _repo(cluster).commit(prefix, "deny", WRITER, "topic.produce", topic)
        _within(lambda: all(a > b for a, b in zip(_revisions(cluster), before, strict=True)), 5)
        for broker in (first, second):  # back and forth: each owner held an allow from the old revision
            move_to(cluster, topic, broker)
            with pytest.raises(pulsar.AuthorizationError):
                writer.create_producer(topic)
