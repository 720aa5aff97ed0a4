"""Binary schema commands are authorized (issue #16 item 1), through real 4.0 and 4.2 brokers.

Pulsar 4.0.7 and 4.2.4 hand CommandGetSchema and CommandGetOrCreateSchema to the schema registry without
asking the authorization provider (CVE-2026-105926, fixed upstream in 4.0.14 and 4.2.5). The shim's broker
interceptor refuses them with AuthorizationError unless the connection's principal may `topic.lookup`
(GetSchema) or `topic.produce` (GetOrCreateSchema) the topic.

GetSchema goes through the real Python client (`get_schema_info`, what its Avro decoding calls).
GetOrCreateSchema goes through the real Java client (tests/e2e/java/SchemaProbe.java): the Python (C++)
client never sends it, and a producer's own schema travels in CommandProducer, which the broker already
authorizes with `topic.produce`.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulsar
import pytest
from pulsar.schema import Integer, JsonSchema, Record, String

from devtools import pki as dev_pki
from devtools.broker import StandaloneBroker, classpath_file
from devtools.service import MeshgateProcess, audit_file
from tests.e2e.conftest import SHIM_IDENTITIES
from tests.support.audit_log import records_about
from tests.support.pulsar_clients import tls_client

pytestmark = pytest.mark.e2e

PROBE_SOURCE = Path(__file__).resolve().parent / "java" / "SchemaProbe.java"
# A short-lived client JVM: start fast rather than run fast (each start loads hundreds of jars).
JAVA = ["java", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xshare:auto"]
STRANGER = SHIM_IDENTITIES["stranger"]  # no rule grants it anything
# Sends GetOrCreateSchema(topic, definition) as each dev-PKI identity in turn, in one JVM:
# [(identity, definition), ...] -> {identity: {"result": ..., "message": ...}}.
Probe = Callable[[str, list[tuple[str, str]]], dict[str, dict[str, str]]]


class Payment(Record):
    amount = Integer()
    currency = String()


def _evolved(field: str) -> str:
    """Payment plus the optional `field`: a compatible new version the registry accepts."""
    definition = Payment.schema()
    definition["fields"].append({"name": field, "type": ["null", "string"], "default": None})
    return json.dumps(definition)


@pytest.fixture(scope="session")
def probe(broker: StandaloneBroker, tmp_path_factory: pytest.TempPathFactory) -> Probe:
    """SchemaProbe compiled once per broker line against that line's client jars."""
    classpath = classpath_file(broker.settings.line).read_text().strip()
    classes = tmp_path_factory.mktemp(f"schema-probe-{broker.settings.line}")
    subprocess.run(
        ["javac", "-d", str(classes), "-cp", classpath, str(PROBE_SOURCE)],
        check=True,
        timeout=120,
        capture_output=True,
    )
    pki = broker.settings.pki

    def run(topic: str, attempts: list[tuple[str, str]]) -> dict[str, dict[str, str]]:
        command = [*JAVA, "-cp", f"{classes}:{classpath}", "SchemaProbe"]
        command += [broker.service_url_tls, str(pki.ca_file), topic]
        for identity, definition in attempts:
            command += [identity, str(pki.cert(identity)), str(pki.key(identity)), definition]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith('{"identity"')]
        assert len(lines) == len(attempts), f"SchemaProbe exited {done.returncode}: {done.stderr[-2000:]}"
        return {line.pop("identity"): line for line in lines}

    return run


@pytest.fixture
def topic(broker: StandaloneBroker, pki: dev_pki.DevPki) -> str:
    """A topic that exists with a JSON schema (version 0), created by the payments writer."""
    name = f"persistent://acme/payments/schema-{uuid.uuid4().hex[:8]}"
    with tls_client(broker, pki, "writer") as writer:
        writer.create_producer(name, schema=JsonSchema(Payment)).send(Payment(amount=1, currency="EUR"))
    return name


def _latest(broker: StandaloneBroker, topic: str) -> dict[str, Any]:
    """The topic's latest schema (version, data), read over the admin API as the broker's super-user."""
    status, body = broker.admin_get(f"/admin/v2/schemas/{topic.removeprefix('persistent://')}/schema")
    assert status == 200, (status, body)
    latest: dict[str, Any] = json.loads(body)
    return latest


def _audited_attempts(meshgate: MeshgateProcess, topic: str, action: str) -> list[str]:
    """The decisions the service recorded for the stranger's own (not prefetched) `action` on `topic`."""
    records = records_about(
        audit_file(meshgate.config),
        topic,
        want=1,
        where=lambda r: r["principal"] == STRANGER and r["action"] == action and not r.get("prefetch"),
    )
    return [r["decision"] for r in records]


def test_get_schema_needs_lookup(
    broker: StandaloneBroker, pki: dev_pki.DevPki, meshgate: MeshgateProcess, topic: str
) -> None:
    with tls_client(broker, pki, "stranger") as stranger, pytest.raises(pulsar.AuthorizationError):
        stranger._client.get_schema_info(topic, -1)  # -1: the latest version
    assert _audited_attempts(meshgate, topic, "topic.lookup") == ["deny"]
    for granted in ("writer", "reader"):  # produce and consume both include lookup
        with tls_client(broker, pki, granted) as client:
            info = client._client.get_schema_info(topic, -1)
        assert json.loads(info.schema())["name"] == "Payment", granted


def test_get_or_create_schema_needs_produce(
    broker: StandaloneBroker, meshgate: MeshgateProcess, topic: str, probe: Probe
) -> None:
    # The reader may look the topic up and read its schema, not register one.
    outcome = probe(
        topic, [("stranger", _evolved("note")), ("reader", _evolved("note")), ("writer", _evolved("memo"))]
    )
    for refused in ("stranger", "reader"):
        assert outcome[refused]["result"] == "AuthorizationException", outcome
        assert "topic.produce was not allowed" in outcome[refused]["message"], outcome
    assert outcome["writer"] == {"result": "ok", "message": "1"}, outcome
    latest = _latest(
        broker, topic
    )  # version 1 is the writer's: the refused commands never reached the registry
    assert latest["version"] == 1 and '"memo"' in latest["data"] and '"note"' not in latest["data"], latest
    assert _audited_attempts(meshgate, topic, "topic.produce") == ["deny"]
