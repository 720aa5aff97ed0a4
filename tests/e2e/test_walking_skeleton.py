"""The walking skeleton, end to end: pulsar-client → real broker → shim → gRPC → meshgate → policy.

Certificates come from the test CA with the SPIFFE ID as URI SAN; the broker listens with TLS.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pulsar
import pytest

from devtools import pki as dev_pki
from devtools.broker import StandaloneBroker
from devtools.devca import DevCA, LeafSpec, write_leaf
from devtools.service import MeshgateProcess

pytestmark = pytest.mark.e2e

WRITER = "writer"
READER = "reader"


def _topic() -> str:
    return f"persistent://acme/payments/orders-{uuid.uuid4().hex[:8]}"


@contextmanager
def client_for(
    broker: StandaloneBroker, pki: dev_pki.DevPki, cert: Path | None, key: Path | None, timeout: int = 10
) -> Iterator[pulsar.Client]:
    auth = pulsar.AuthenticationTLS(str(cert), str(key)) if cert and key else None
    client = pulsar.Client(
        broker.service_url_tls,
        authentication=auth,
        tls_trust_certs_file_path=str(pki.ca_file),
        operation_timeout_seconds=timeout,
        connection_timeout_ms=timeout * 1000,
    )
    try:
        yield client
    finally:
        client.close()


def _as(
    broker: StandaloneBroker, pki: dev_pki.DevPki, name: str, timeout: int = 10
) -> Iterator[pulsar.Client]:
    return client_for(broker, pki, pki.cert(name), pki.key(name), timeout)  # type: ignore[return-value]


def test_writer_produces_and_reader_receives_that_exact_message(
    broker: StandaloneBroker, pki: dev_pki.DevPki
) -> None:
    topic = _topic()
    payload = f"order {uuid.uuid4()}".encode()
    with _as(broker, pki, READER) as reader_client, _as(broker, pki, WRITER) as writer_client:
        consumer = reader_client.subscribe(topic, "billing")
        producer = writer_client.create_producer(topic)
        producer.send(payload)
        message = consumer.receive(timeout_millis=10_000)
        consumer.acknowledge(message)
        assert message.data() == payload


def test_writer_may_not_subscribe_and_is_told_quickly(broker: StandaloneBroker, pki: dev_pki.DevPki) -> None:
    with _as(broker, pki, WRITER) as client:
        began = time.monotonic()
        with pytest.raises(pulsar.AuthorizationError):
            client.subscribe(_topic(), "sneaky")
        assert time.monotonic() - began < 5, "a denial must be an answer, not a timeout"


def test_reader_may_not_produce_and_is_told_quickly(broker: StandaloneBroker, pki: dev_pki.DevPki) -> None:
    with _as(broker, pki, READER) as client:
        began = time.monotonic()
        with pytest.raises(pulsar.AuthorizationError):
            client.create_producer(_topic())
        assert time.monotonic() - began < 5


def _refused_at_connect(
    broker: StandaloneBroker, pki: dev_pki.DevPki, cert: Path | None, key: Path | None
) -> None:
    with client_for(broker, pki, cert, key, timeout=5) as client, pytest.raises(pulsar.PulsarException):
        client.create_producer(_topic())


def test_certificate_from_unknown_ca_is_refused(broker: StandaloneBroker, pki: dev_pki.DevPki) -> None:
    stranger = DevCA("stranger CA")
    cert, key = write_leaf(
        pki.directory / "stranger", "writer", stranger.issue_svid(dev_pki.WORKLOADS[WRITER]), stranger
    )
    _refused_at_connect(broker, pki, cert, key)


def test_expired_certificate_is_refused(broker: StandaloneBroker, pki: dev_pki.DevPki) -> None:
    now = datetime.now(UTC)
    spec = LeafSpec(
        uris=[dev_pki.WORKLOADS[WRITER]],
        not_before=now - timedelta(days=2),
        not_after=now - timedelta(days=1),
    )
    cert, key = pki.issue("expired-writer", spec)
    _refused_at_connect(broker, pki, cert, key)


def test_no_certificate_is_refused(broker: StandaloneBroker, pki: dev_pki.DevPki) -> None:
    _refused_at_connect(broker, pki, None, None)


def test_broker_internal_client_is_a_super_user(broker: StandaloneBroker) -> None:
    # The standalone bootstrap (cluster, `public`, `public/default`) ran through the shim as the broker's
    # own identity; so did the fixture that created `acme/payments`.
    status, body = broker.admin_get("/admin/v2/namespaces/acme")
    assert status == 200 and "acme/payments" in body
    status, body = broker.admin_get("/admin/v2/namespaces/public")
    assert status == 200 and "public/default" in body


def test_workload_without_admin_rights_is_refused_by_admin_api(broker: StandaloneBroker) -> None:
    status, _ = broker.admin_get("/admin/v2/namespaces/acme", identity=READER)
    assert status in (401, 403)


def test_service_down_fails_closed_then_recovers(
    broker: StandaloneBroker, pki: dev_pki.DevPki, meshgate: MeshgateProcess
) -> None:
    with _as(broker, pki, WRITER, timeout=5) as client:
        client.create_producer(_topic()).close()  # the connection is authenticated and open
        meshgate.stop(kill=True)
        try:
            with pytest.raises(pulsar.PulsarException):
                client.create_producer(_topic())
        finally:
            meshgate.start()
        client.create_producer(_topic()).close()
