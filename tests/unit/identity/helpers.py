"""Constants and helpers shared by the identity unit tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

NOW = datetime(2026, 1, 1, tzinfo=UTC)
API = "spiffe://example.org/ns/payments/sa/api"


def der(certs: Sequence[x509.Certificate]) -> list[bytes]:
    return [c.public_bytes(Encoding.DER) for c in certs]
