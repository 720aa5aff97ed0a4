"""Helpers for the operations integration tests: the HTTP side next to an in-process server, real calls."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from meshgate.server.app import start_http_side
from meshgate.server.http import RunningHttp
from meshgate.v1 import meshgate_pb2 as pb
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import MeshgateServer

WRITER = "spiffe://meshgate.test/ns/payments/sa/writer"
READER = "spiffe://meshgate.test/ns/payments/sa/reader"
TOPIC = "persistent://acme/payments/orders"


def chain_of(cert_file: Path) -> list[bytes]:
    return [c.public_bytes(Encoding.DER) for c in x509.load_pem_x509_certificates(cert_file.read_bytes())]


def authorize_request(
    principal: str, action: str, topic: str = TOPIC, **extra: object
) -> pb.AuthorizeRequest:
    resource = pb.Resource(tenant="acme", namespace="acme/payments", topic=topic)
    return pb.AuthorizeRequest(principal=principal, action=action, resource=resource, **extra)  # type: ignore[arg-type]


def authenticate_request(chain: list[bytes], request_id: str = "") -> pb.AuthenticateRequest:
    credential = pb.Credential(certificate_chain=pb.CertificateChain(der=chain))
    peer = pb.Peer(address="127.0.0.1:40000", auth_method="tls", transport="binary")
    return pb.AuthenticateRequest(credential=credential, peer=peer, request_id=request_id)


class HttpSide:
    """The HTTP port of `server`; `stop()` it before the server stops."""

    def __init__(self, server: MeshgateServer) -> None:
        running = start_http_side(server.components)
        assert running is not None, "the test config must set http.listen"
        self.running: RunningHttp = running
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{running.port}", timeout=10)

    def stop(self) -> None:
        self.client.close()
        self.running.stop()

    def samples(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Every sample of /metrics, parsed by prometheus_client: (name, sorted labels) -> value."""
        response = self.client.get("/metrics")
        assert response.status_code == 200, response.text
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text)
            for s in family.samples
        }


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    assert key in samples, (
        f"{name}{labels} not scraped; have {sorted(n for n, _ in samples if n.startswith(name))}"
    )
    return samples[key]


def lines(path: Path) -> Iterator[str]:
    yield from path.read_text().splitlines()
