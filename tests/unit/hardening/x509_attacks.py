"""X.509/SPIFFE attacks the conformance table (tests/conformance/x509/cases.yaml) does not already hold. They
need certificate shapes `devtools.devca` cannot mint (a non-CA or keyCertSign-less intermediate, pathLen,
SHA-1, Ed25519, excluded subtrees), so this module has its own tiny builder.

Each attack returns (bundle roots, presented DER chain); catalogue ids (X1..X16) are in catalogue.yaml.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = datetime(2026, 1, 1, tzinfo=UTC)
TD = "example.org"
SPIFFE_ID = f"spiffe://{TD}/ns/payments/sa/api"
L5D_ID = "api.payments.serviceaccount.identity.linkerd.cluster.local"


@dataclass
class Spec:
    name: str
    ca: bool = True
    key_cert_sign: bool = True
    path_len: int | None = None
    uris: Sequence[str] = ()
    dns: Sequence[str] = ()
    hash: Any = field(default_factory=hashes.SHA256)
    key: Any = None
    excluded_dns: Sequence[str] = ()


@dataclass(frozen=True)
class Node:
    cert: x509.Certificate
    key: Any

    def der(self) -> bytes:
        return self.cert.public_bytes(Encoding.DER)


def _usage(spec: Spec) -> x509.KeyUsage:
    signs = spec.ca and spec.key_cert_sign
    return x509.KeyUsage(not spec.ca or not signs, False, False, False, False, signs, signs, False, False)


def issue(spec: Spec, parent: Node | None = None) -> Node:
    key = spec.key or ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, spec.name)] if spec.name else [])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(parent.cert.subject if parent else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(hours=1))
        .not_valid_after(NOW + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=spec.ca, path_length=spec.path_len), critical=True)
        .add_extension(_usage(spec), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key((parent.key if parent else key).public_key()),
            critical=False,
        )
    )
    if not spec.ca:
        eku = [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH]
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    names = [x509.UniformResourceIdentifier(u) for u in spec.uris] + [x509.DNSName(d) for d in spec.dns]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=not spec.name)
    if spec.excluded_dns:
        excluded: list[x509.GeneralName] = [x509.DNSName(d) for d in spec.excluded_dns]
        builder = builder.add_extension(x509.NameConstraints(None, excluded), critical=True)
    signer = parent.key if parent else key
    algorithm = None if isinstance(signer, ed25519.Ed25519PrivateKey) else spec.hash
    return Node(builder.sign(signer, algorithm), key)


@functools.cache
def root() -> Node:
    return issue(Spec("attack root", uris=[f"spiffe://{TD}"]))


def leaf(parent: Node, **changes: Any) -> Node:
    return issue(Spec("", ca=False, uris=changes.pop("uris", [SPIFFE_ID]), **changes), parent)


Material = tuple[list[x509.Certificate], list[bytes]]


def _via(intermediate: Spec, **leaf_changes: Any) -> Material:
    mid = issue(intermediate, root())
    return [root().cert], [leaf(mid, **leaf_changes).der(), mid.der()]


def _direct(**leaf_changes: Any) -> Material:
    return [root().cert], [leaf(root(), **leaf_changes).der()]


def pathlen_zero_issues_ca() -> Material:
    int1 = issue(Spec("int1", path_len=0, uris=[f"spiffe://{TD}"]), root())
    int2 = issue(Spec("int2", uris=[f"spiffe://{TD}"]), int1)
    return [root().cert], [leaf(int2).der(), int2.der(), int1.der()]


def excluded_subtree() -> Material:
    anchor = issue(Spec("anchor"))
    excluded = ["payments.serviceaccount.identity.linkerd.cluster.local"]
    mid = issue(Spec("issuer", excluded_dns=excluded), anchor)
    return [anchor.cert], [leaf(mid, uris=[], dns=[L5D_ID]).der(), mid.der()]


def ed25519_ca() -> Material:
    ca = issue(Spec("ed25519 root", uris=[f"spiffe://{TD}"], key=ed25519.Ed25519PrivateKey.generate()))
    return [ca.cert], [leaf(ca).der()]


def reversed_chain() -> Material:
    mid = issue(Spec("int", uris=[f"spiffe://{TD}"]), root())
    return [root().cert], [mid.der(), leaf(mid).der()]


def csr_instead_of_cert() -> Material:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(SPIFFE_ID)]), False)
        .sign(key, hashes.SHA256())
    )
    return [root().cert], [csr.public_bytes(Encoding.DER)]


def _raw(*chain: bytes) -> Callable[[], Material]:
    return lambda: ([root().cert], list(chain))


@dataclass(frozen=True)
class Attack:
    case_id: str
    build: Callable[[], Material]
    error: str


ATTACKS: tuple[Attack, ...] = (
    Attack(
        "intermediate-not-ca", lambda: _via(Spec("int", ca=False, uris=[f"spiffe://{TD}"])), "untrusted_chain"
    ),
    Attack(
        "intermediate-without-keycertsign",
        lambda: _via(Spec("int", key_cert_sign=False, uris=[f"spiffe://{TD}"])),
        "untrusted_chain",
    ),
    Attack("pathlen-zero-intermediate-issues-ca", pathlen_zero_issues_ca, "untrusted_chain"),
    Attack("excluded-dns-subtree", excluded_subtree, "untrusted_chain"),
    Attack("sha224-signed-leaf", lambda: _direct(hash=hashes.SHA224()), "untrusted_chain"),
    Attack("ed25519-leaf-key", lambda: _direct(key=ed25519.Ed25519PrivateKey.generate()), "weak_key"),
    Attack("p521-leaf-key", lambda: _direct(key=ec.generate_private_key(ec.SECP521R1())), "weak_key"),
    Attack("ed25519-ca", ed25519_ca, "untrusted_chain"),
    Attack(
        "spiffe-and-https-uri-sans",
        lambda: _direct(uris=[SPIFFE_ID, "https://example.org/api"]),
        "multiple_uri_sans",
    ),
    Attack("reversed-chain-order", reversed_chain, "malformed_spiffe_id"),  # the CA's ID names no workload
    Attack("csr-instead-of-certificate", csr_instead_of_cert, "malformed_certificate"),
    Attack(
        "der-with-trailing-bytes",
        lambda: ([root().cert], [leaf(root()).der() + b"\x00\x00"]),
        "malformed_certificate",
    ),
    Attack("der-truncated", lambda: ([root().cert], [leaf(root()).der()[:-10]]), "malformed_certificate"),
    Attack("empty-element", _raw(b""), "malformed_certificate"),
    Attack("element-over-64k", _raw(b"\x30\x84" + bytes(70_000)), "malformed_certificate"),
    Attack("thousand-elements", _raw(*[b"\x30"] * 1000), "chain_too_long"),
    Attack("root-itself-as-leaf", lambda: ([root().cert], [root().der()]), "malformed_spiffe_id"),
)
