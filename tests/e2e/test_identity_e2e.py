"""Identity end to end (issue #3): pulsar-client → real broker (TLS) → shim → meshgate, for the certificate
shapes of a Linkerd mesh.

A Linkerd client certificate names the workload only in a DNS SAN (`<sa>.<ns>.serviceaccount.identity.
linkerd.<td>`); meshgate (configured with the dev mesh's trust domain) maps it to the same canonical principal
as the SPIFFE SVID, so the one policy rule for `spiffe://meshgate.test/ns/payments/sa/writer` covers both. A
certificate with two URI SANs is no X.509-SVID and is refused, with the stable code in meshgate's log.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pulsar
import pytest

from devtools import pki as dev_pki
from devtools.broker import StandaloneBroker
from devtools.devca import LeafSpec
from devtools.service import MeshgateProcess
from tests.support.pulsar_clients import tls_client_files
from tests.support.service_log import log_offset, wait_for_log

pytestmark = pytest.mark.e2e

LINKERD_WRITER = f"writer.payments.serviceaccount.identity.linkerd.{dev_pki.TRUST_DOMAIN}"
LINKERD_READER = f"reader.payments.serviceaccount.identity.linkerd.{dev_pki.TRUST_DOMAIN}"


def _topic() -> str:
    return f"persistent://acme/payments/identity-{uuid.uuid4().hex[:8]}"


@contextmanager
def tls_client(
    broker: StandaloneBroker, pki: dev_pki.DevPki, cert: Path, key: Path
) -> Iterator[pulsar.Client]:
    with tls_client_files(
        broker, pki.ca_file, cert, key, operation_timeout_seconds=5, connection_timeout_ms=5000
    ) as client:
        yield client


def linkerd_cert(pki: dev_pki.DevPki, name: str, dns: str) -> tuple[Path, Path]:
    """What Linkerd's identity controller issues: the DNS-form name as CN and sole (non-critical) SAN."""
    return pki.issue(name, LeafSpec(dns=[dns], common_name=dns, san_critical=False))


def test_linkerd_certificate_is_the_canonical_principal(
    broker: StandaloneBroker, pki: dev_pki.DevPki
) -> None:
    """The Linkerd-named writer produces where the policy lets the SPIFFE writer; the SVID reader reads."""
    topic = _topic()
    payload = f"linkerd {uuid.uuid4()}".encode()
    cert, key = linkerd_cert(pki, "linkerd-writer", LINKERD_WRITER)
    with (
        tls_client(broker, pki, pki.cert("reader"), pki.key("reader")) as reader,
        tls_client(broker, pki, cert, key) as writer,
    ):
        consumer = reader.subscribe(topic, "billing")
        writer.create_producer(topic).send(payload)
        message = consumer.receive(timeout_millis=10_000)
        consumer.acknowledge(message)
        assert message.data() == payload


def test_linkerd_certificate_gets_only_its_principals_rights(
    broker: StandaloneBroker, pki: dev_pki.DevPki
) -> None:
    cert, key = linkerd_cert(pki, "linkerd-reader", LINKERD_READER)
    with tls_client(broker, pki, cert, key) as client, pytest.raises(pulsar.AuthorizationError):
        client.create_producer(_topic())


def test_linkerd_name_of_another_mesh_is_refused(
    broker: StandaloneBroker, pki: dev_pki.DevPki, meshgate: MeshgateProcess
) -> None:
    cert, key = linkerd_cert(
        pki, "other-mesh", "writer.payments.serviceaccount.identity.linkerd.cluster.local"
    )
    since = log_offset(meshgate)
    with tls_client(broker, pki, cert, key) as client, pytest.raises(pulsar.PulsarException):
        client.create_producer(_topic())
    wait_for_log(meshgate, "authentication rejected: no_identity:", since)


def test_two_uri_sans_are_refused_at_connect(
    broker: StandaloneBroker, pki: dev_pki.DevPki, meshgate: MeshgateProcess
) -> None:
    uris = [dev_pki.WORKLOADS["writer"], dev_pki.WORKLOADS["reader"]]
    cert, key = pki.issue("two-uris", LeafSpec(uris=uris))
    since = log_offset(meshgate)
    with tls_client(broker, pki, cert, key) as client, pytest.raises(pulsar.PulsarException) as refused:
        client.create_producer(_topic())
    assert not isinstance(refused.value, pulsar.AuthorizationError), "refused as a caller, not as a principal"
    wait_for_log(meshgate, "authentication rejected: multiple_uri_sans:", since)
