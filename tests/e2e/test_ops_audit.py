"""The audit trail end to end: decisions made for a real broker read back from the meshgate process's
audit file (also through `meshgate audit query`), answers the shim served from its cache among them, and
the Pulsar topic sink read by a real consumer through the real broker."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pulsar
import pytest
from meshgate.v1 import meshgate_pb2 as pb
from meshgate.v1 import meshgate_pb2_grpc as pb_grpc

from devtools import pki as dev_pki
from devtools.broker import StandaloneBroker
from devtools.service import MeshgateProcess, audit_file, write_config
from tests.support.audit_log import records_about

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
WRITER = dev_pki.WORKLOADS["writer"]
READER = dev_pki.WORKLOADS["reader"]


def _client(broker: StandaloneBroker, pki: dev_pki.DevPki, name: str) -> pulsar.Client:
    return pulsar.Client(
        broker.service_url_tls,
        authentication=pulsar.AuthenticationTLS(str(pki.cert(name)), str(pki.key(name))),
        tls_trust_certs_file_path=str(pki.ca_file),
        operation_timeout_seconds=10,
    )


def _secrets(pki: dev_pki.DevPki) -> list[str]:
    """Pieces of credentials that must never reach the audit log."""
    body = [line for line in pki.cert("writer").read_text().splitlines() if "-----" not in line]
    return ["-----BEGIN", "PRIVATE KEY", body[0][:32], body[-1][:32]]


def test_audit_file_has_every_broker_decision_and_no_secret(
    broker: StandaloneBroker, pki: dev_pki.DevPki, meshgate: MeshgateProcess
) -> None:
    topic = f"persistent://acme/payments/audited-{uuid.uuid4().hex[:8]}"
    writer, reader = _client(broker, pki, "writer"), _client(broker, pki, "reader")
    try:
        writer.create_producer(topic).send(b"audited")
        with pytest.raises(pulsar.AuthorizationError):
            reader.create_producer(topic)
    finally:
        writer.close()
        reader.close()
    path = audit_file(meshgate.config)
    records = records_about(path, topic, want=2)
    produce = [r for r in records if r["action"] == "topic.produce"]
    allowed = [r for r in produce if r["principal"] == WRITER and r["decision"] == "allow"]
    denied = [r for r in produce if r["principal"] == READER and r["decision"] == "deny"]
    assert allowed and denied, records
    assert allowed[0]["rule_id"] == "payments.yaml#writer-produces"
    assert allowed[0].get("prefetch") is True, "asked by the shim together with the writer's lookup"
    assert denied[0]["reason_code"] == "no_matching_rule" and denied[0]["rule_id"] == ""
    for record in (allowed[0], denied[0]):
        assert record["time"] and record["revision"] and record["request_id"] and record["broker_id"]
        assert record["resource"]["namespace"] == "acme/payments"
    logins = [r for r in map(json.loads, path.read_text().splitlines()) if r["event"] == "authenticate"]
    assert any(r.get("principal") == WRITER and r["credential_kind"] == "x509_svid" for r in logins)
    text = path.read_text()
    for secret in _secrets(pki):
        assert secret not in text


def test_answers_the_shim_served_from_its_cache_are_in_audit_query(
    broker: StandaloneBroker, pki: dev_pki.DevPki, meshgate: MeshgateProcess
) -> None:
    """The producer checks are answered from the shim's cache (filled by the lookup's prefetch), so the
    service never decides them in that call: the shim reports them, and `meshgate audit query` shows both,
    with the revision that decided them, the credential kind, the client's peer and the broker."""
    topic = f"persistent://acme/payments/cached-{uuid.uuid4().hex[:8]}"
    writer, reader = _client(broker, pki, "writer"), _client(broker, pki, "reader")
    try:
        writer.create_producer(topic).send(b"allowed from the cache")
        with pytest.raises(pulsar.AuthorizationError):
            reader.create_producer(topic)  # its lookup prefetched the deny the producer check then finds
    finally:
        writer.close()
        reader.close()
    path = audit_file(meshgate.config)
    cached_produce = {"served_by": "shim_cache", "action": "topic.produce"}  # reported within ~1 s
    records_about(path, topic, want=2, where=lambda r: cached_produce.items() <= r.items())
    shown = _audit_query(path, "--resource", topic)
    produce = [r for r in shown if r["action"] == "topic.produce"]
    cached = [r for r in produce if r.get("served_by") == "shim_cache"]
    allowed = [r for r in cached if r["principal"] == WRITER and r["decision"] == "allow"]
    denied = [r for r in cached if r["principal"] == READER and r["decision"] == "deny"]
    assert allowed and denied, shown
    decided = {r["principal"]: r for r in produce if r.get("prefetch")}  # what the service decided earlier
    assert allowed[0]["rule_id"] == "payments.yaml#writer-produces" and allowed[0]["count"] >= 1
    assert denied[0]["reason_code"] == "no_matching_rule" and denied[0]["count"] == 1
    for record in (allowed[0], denied[0], decided[WRITER], decided[READER]):
        assert record["revision"].startswith("sha256:"), record
        assert record["credential_kind"] == "x509_svid", record
        assert record["peer"].startswith("127.0.0.1:"), record
        assert record["broker_id"].startswith("standalone/"), record
    assert allowed[0]["revision"] == decided[WRITER]["revision"], "the revision that decided it"


def _audit_query(path: Path, *filters: str) -> list[dict[str, Any]]:
    """`meshgate audit query --output json`, run as an operator runs it."""
    command = [sys.executable, "-m", "meshgate", "audit", "query", "--file", str(path), *filters]
    ran = subprocess.run(
        [*command, "--output", "json"], capture_output=True, text=True, timeout=60, check=False
    )
    assert ran.returncode == 0, ran.stderr
    return [json.loads(line) for line in ran.stdout.splitlines()]


@pytest.fixture
def audit_to_pulsar(
    broker: StandaloneBroker, pki: dev_pki.DevPki, tmp_path: Path
) -> Iterator[tuple[MeshgateProcess, str]]:
    """A second service whose audit sink produces to a topic on the broker (as the broker's own identity)."""
    topic = f"persistent://acme/payments/meshgate-audit-{uuid.uuid4().hex[:8]}"
    sink = {
        "service_url": broker.service_url_tls,
        "topic": topic,
        "tls_cert": str(pki.cert("broker-client")),
        "tls_key": str(pki.key("broker-client")),
        "tls_trust_certs": str(pki.ca_file),
        "batch_delay_ms": 20,
        "reconnect_seconds": 0.5,
    }
    config = write_config(
        tmp_path / "meshgate.yaml",
        port=0,
        policy_dir=ROOT / "policies" / "examples",
        trust_bundles=[f"{dev_pki.TRUST_DOMAIN}={pki.ca_file}"],
        superusers=[dev_pki.BROKER_ID],
        extra={"audit": {"pulsar": sink}},
    )
    service = MeshgateProcess(config, tmp_path / "meshgate.log")
    service.start()
    yield service, topic
    service.stop()


def test_pulsar_sink_records_reach_a_real_consumer(
    broker: StandaloneBroker, pki: dev_pki.DevPki, audit_to_pulsar: tuple[MeshgateProcess, str]
) -> None:
    service, topic = audit_to_pulsar
    reader = _client(broker, pki, "reader")  # consumes under the example policy's reader-consumes rule
    try:
        consumer = reader.subscribe(topic, "audit-check", initial_position=pulsar.InitialPosition.Earliest)
        ids = _authorize_over_grpc(service.target, count=5)
        received = {}
        deadline = time.monotonic() + 30
        while set(ids) - set(received) and time.monotonic() < deadline:
            message = consumer.receive(timeout_millis=30_000)
            consumer.acknowledge(message)
            record = json.loads(message.data())
            received[record.get("request_id", "")] = record
    finally:
        reader.close()
    assert set(ids) <= set(received), f"missing {set(ids) - set(received)}"
    record = received[ids[0]]
    assert (record["event"], record["principal"], record["decision"]) == ("authorize", READER, "deny")
    assert record["reason_code"] == "no_matching_rule" and record["broker_id"] == "e2e"


def _authorize_over_grpc(target: str, count: int) -> list[str]:
    ids = [f"audit-{uuid.uuid4().hex[:8]}" for _ in range(count)]
    with grpc.insecure_channel(target) as channel:
        stub = pb_grpc.AuthorizationStub(channel)
        for request_id in ids:
            request = pb.AuthorizeRequest(
                principal=READER,
                action="topic.produce",
                resource=pb.Resource(
                    tenant="acme", namespace="acme/payments", topic="persistent://acme/payments/x"
                ),
                request_id=request_id,
                broker_id="e2e",
            )
            assert not stub.Authorize(request, timeout=10).decision.allowed
    return ids
