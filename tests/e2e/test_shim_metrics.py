"""The shim's metrics appear on the broker's own Prometheus endpoint (issue #6)."""

from __future__ import annotations

import re
import uuid

import pulsar
import pytest

from devtools import pki as dev_pki
from devtools.broker import StandaloneBroker

pytestmark = pytest.mark.e2e


def _value(page: str, name: str, labels: str = "") -> float:
    label_part = r"\{[^}]*" + labels + r"[^}]*\}" if labels else r"(?:\{[^}]*\})?"
    match = re.search(r"(?m)^" + re.escape(name) + label_part + r" (?P<value>\S+)", page)
    assert match, f"{name}{{{labels}}} missing from /metrics"
    return float(match.group("value"))


def test_decisions_latency_cache_and_revision_are_scraped(
    broker: StandaloneBroker, pki: dev_pki.DevPki
) -> None:
    topic = f"persistent://acme/payments/metrics-{uuid.uuid4().hex[:8]}"
    client = pulsar.Client(
        broker.service_url_tls,
        authentication=pulsar.AuthenticationTLS(str(pki.cert("writer")), str(pki.key("writer"))),
        tls_trust_certs_file_path=str(pki.ca_file),
    )
    try:
        for _ in range(3):
            client.create_producer(topic).close()  # the same questions again: answered from the cache
        with pytest.raises(pulsar.AuthorizationError):
            client.subscribe(topic, "sneaky")
    finally:
        client.close()
    page = broker.metrics()
    assert _value(page, "meshgate_shim_decisions_total", 'result="allow",reason="policy"') >= 1
    # the writer's consume was prefetched (denied, for any subscription) with its first lookup
    assert _value(page, "meshgate_shim_decisions_total", 'result="deny",reason="cached"') >= 1
    assert _value(page, "meshgate_shim_prefetches_total", 'result="deny"') >= 1
    assert _value(page, "meshgate_shim_decisions_total", 'result="allow",reason="cached"') >= 1
    assert _value(page, "meshgate_shim_decisions_total", 'result="allow",reason="superuser"') >= 1
    assert _value(page, "meshgate_shim_decision_seconds_count", 'source="service"') >= 1
    assert _value(page, "meshgate_shim_cache_hits_total") >= 1
    # the producer's lookup missed the cache and brought topic.produce along in the same call
    assert _value(page, "meshgate_shim_prefetches_total", 'result="allow"') >= 1
    assert 0 < _value(page, "meshgate_shim_cache_hit_ratio") <= 1
    assert _value(page, "meshgate_shim_revision_stream_connected") == 1
    assert _value(page, "meshgate_shim_policy_revision_info", 'revision="') == 1
    assert _value(page, "meshgate_shim_authentications_total", 'method="tls",result="ok"') >= 1
    # a host:port target: every call over gRPC, none over a frames socket (docs/frames.md)
    assert _value(page, "meshgate_shim_calls_total", 'rpc="authorize_batch",transport="grpc"') >= 1
    assert 'transport="frames"' not in page
