"""One broker's sidecar stops: that broker fails closed, the other keeps serving its topics through the proxy;
the sidecar comes back and the broker recovers without a restart.

Seen on the way: the healthy broker cannot load a topic it has not loaded yet while the broken broker owns its
namespace's `__change_events` system topic -- the healthy broker's internal client must log in there to read
topic policies, and that login fails closed too. So "keeps serving" means topics it already serves."""

from __future__ import annotations

import time
import uuid

import pulsar
import pytest

from devtools.cluster import PulsarCluster
from tests.e2e.cluster.helpers import audit_records, token_client, topic_per_broker
from tests.support.k8s_tokens import sa_token

pytestmark = pytest.mark.e2e


def _produce(cluster: PulsarCluster, topic: str) -> None:
    with token_client(cluster, sa_token("writer")) as writer:
        writer.create_producer(topic).send(b"x")


def test_a_stopped_sidecar_fails_its_broker_closed_and_the_other_serves(cluster: PulsarCluster) -> None:
    broken = cluster.brokers[1]  # topic_per_broker: on_healthy is on brokers[0], on_broken here
    prefix = f"fault{uuid.uuid4().hex[:6]}"
    on_healthy, on_broken = topic_per_broker(cluster, prefix)
    _produce(cluster, on_healthy)  # loaded, with its topic policies, before the failure
    broken.sidecar.stop(kill=True)
    try:
        with pytest.raises(pulsar.PulsarException):
            _produce(cluster, on_broken)
        _produce(cluster, on_healthy)
        assert not audit_records(broken.sidecar, on_broken, timeout=0.5), "nothing decided it: no allow"
    finally:
        broken.sidecar.start()
    deadline = time.monotonic() + 15
    while True:  # the shim reconnects with a backoff of at most 2 s
        try:
            _produce(cluster, on_broken)
            break
        except pulsar.PulsarException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
