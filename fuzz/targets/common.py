"""Shared fixtures of the harnesses: a fixed clock, a dev CA, signing keys. Built once per process."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import Encoding
from meshgate.clock import FixedClock
from meshgate.errors import MeshgateError

from devtools.devca import DevCA, LeafSpec

NOW = datetime(2030, 1, 1, tzinfo=UTC)
TRUST_DOMAIN = "fuzz.test"
ISSUED_IDS = tuple(f"spiffe://{TRUST_DOMAIN}/ns/payments/sa/{sa}" for sa in ("writer", "reader", "api"))


class InvariantViolation(AssertionError):
    """A harness invariant failed: an allow that must not happen, or an answer that contradicts the input."""


def clock() -> FixedClock:
    return FixedClock(NOW)


def rejected_cleanly(error: BaseException) -> bool:
    """Every deliberate refusal is a MeshgateError subclass; anything else escaping is a bug."""
    return isinstance(error, MeshgateError)


@dataclass(frozen=True)
class Pki:
    root: DevCA
    intermediate: DevCA
    leaves: tuple[x509.Certificate, ...]

    def chains(self) -> list[list[bytes]]:
        mid = self.intermediate.cert.public_bytes(Encoding.DER)
        return [[leaf.public_bytes(Encoding.DER), mid] for leaf in self.leaves]

    def issued_tbs(self) -> frozenset[bytes]:
        return frozenset(leaf.tbs_certificate_bytes for leaf in self.leaves)


@functools.cache
def pki() -> Pki:
    root = DevCA("fuzz root", now=NOW, uri_sans=[f"spiffe://{TRUST_DOMAIN}"])
    intermediate = root.intermediate("fuzz intermediate", uri_sans=[f"spiffe://{TRUST_DOMAIN}"])
    leaves = tuple(intermediate.issue(LeafSpec(uris=[spiffe_id])).cert for spiffe_id in ISSUED_IDS)
    return Pki(root, intermediate, leaves)


@functools.cache
def ed_key() -> ed25519.Ed25519PrivateKey:
    """Signs the structured tokens: Ed25519 is fast enough to sign on every execution."""
    return ed25519.Ed25519PrivateKey.generate()
