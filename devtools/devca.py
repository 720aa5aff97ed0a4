"""A tiny certificate authority for development and tests.

`make run` uses it to mint a dev CA, a broker serving certificate and example client SVIDs; the tests use it
to mint every certificate they need, including deliberately broken ones. It never touches trust decisions.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def new_key(kind: str = "p256") -> PrivateKey:
    if kind == "p256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "p384":
        return ec.generate_private_key(ec.SECP384R1())
    if kind.startswith("rsa"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(kind[3:] or 2048))
    raise ValueError(f"devca: unknown key kind {kind!r} (p256, p384, rsa2048, rsa3072, rsa4096)")


@dataclass(frozen=True)
class Issued:
    cert: x509.Certificate
    key: PrivateKey

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        # PKCS#8: what Pulsar's broker and the C++ client both read.
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


@dataclass
class LeafSpec:
    """Everything a test may want to vary in a leaf certificate; defaults make a valid X.509-SVID."""

    uris: Sequence[str] = ()
    dns: Sequence[str] = ()
    ips: Sequence[str] = ()
    common_name: str | None = None
    key_kind: str = "p256"
    not_before: datetime | None = None
    not_after: datetime | None = None
    is_ca: bool = False
    key_usage: str = "signing"  # signing | cert_sign | crl_sign | no_digital_signature | none | non_critical
    eku: Sequence[x509.ObjectIdentifier] | None = (
        ExtendedKeyUsageOID.CLIENT_AUTH,
        ExtendedKeyUsageOID.SERVER_AUTH,
    )
    san_critical: bool = True
    self_signed: bool = False  # sign with the leaf's own key, issuer = subject
    extra_extensions: list[tuple[x509.ExtensionType, bool]] = field(default_factory=list)


def _name(cn: str | None) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]) if cn else x509.Name([])


def _key_usage(kind: str) -> tuple[x509.KeyUsage, bool] | None:
    if kind == "none":
        return None
    cert_sign = kind == "cert_sign"
    usage = x509.KeyUsage(
        digital_signature=kind != "no_digital_signature",
        content_commitment=False,
        key_encipherment=kind == "no_digital_signature",
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign or kind == "crl_sign",
        encipher_only=False,
        decipher_only=False,
    )
    return usage, kind != "non_critical"


class DevCA:
    """A root (optionally with an intermediate) that issues leaves. Deterministic enough for tests."""

    def __init__(
        self,
        name: str = "meshgate dev CA",
        *,
        key_kind: str = "p256",
        now: datetime | None = None,
        days: int = 3650,
        parent: DevCA | None = None,
        permitted_uris: Sequence[str] | None = None,
        permitted_dns: Sequence[str] | None = None,
        uri_sans: Sequence[str] = (),
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> None:
        self.now = now or datetime.now(UTC)
        self.key = new_key(key_kind)
        self.parent = parent
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(parent.cert.subject if parent else _name(name))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or self.now - timedelta(hours=1))
            .not_valid_after(not_after or self.now + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
        )
        permitted: list[x509.GeneralName] = [x509.UniformResourceIdentifier(u) for u in permitted_uris or ()]
        permitted += [x509.DNSName(d) for d in permitted_dns or ()]
        if permitted:
            constraints = x509.NameConstraints(permitted_subtrees=permitted, excluded_subtrees=None)
            builder = builder.add_extension(constraints, critical=True)
        if uri_sans:
            # SPIRE's CAs carry their trust domain as a URI SAN (`spiffe://example.org`).
            sans = x509.SubjectAlternativeName([x509.UniformResourceIdentifier(u) for u in uri_sans])
            builder = builder.add_extension(sans, critical=False)
        signer = parent.key if parent else self.key
        if parent:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(parent.key.public_key()), critical=False
            )
        self.cert: x509.Certificate = builder.sign(signer, hashes.SHA256())

    def intermediate(self, name: str = "meshgate dev intermediate", **kwargs: object) -> DevCA:
        return DevCA(name, parent=self, now=self.now, **kwargs)  # type: ignore[arg-type]

    def chain(self) -> list[x509.Certificate]:
        """This CA and its parents up to (excluding) the root: what a leaf presents after itself."""
        out: list[x509.Certificate] = []
        ca: DevCA | None = self
        while ca is not None and ca.parent is not None:
            out.append(ca.cert)
            ca = ca.parent
        return out

    def root(self) -> DevCA:
        return self.parent.root() if self.parent else self

    def issue(self, spec: LeafSpec) -> Issued:
        key = new_key(spec.key_kind)
        signer = key if spec.self_signed else self.key
        not_before = spec.not_before or self.now - timedelta(minutes=5)
        not_after = spec.not_after or self.now + timedelta(hours=24)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(spec.common_name))
            .issuer_name(_name(spec.common_name) if spec.self_signed else self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=spec.is_ca, path_length=None), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False
            )
        )
        usage = _key_usage(spec.key_usage)
        if usage:
            builder = builder.add_extension(usage[0], critical=usage[1])
        if spec.eku:
            builder = builder.add_extension(x509.ExtendedKeyUsage(list(spec.eku)), critical=False)
        names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(u) for u in spec.uris]
        names += [x509.DNSName(d) for d in spec.dns]
        names += [x509.IPAddress(ipaddress.ip_address(i)) for i in spec.ips]
        if names:
            # An empty subject needs a critical SAN (RFC 5280 4.2.1.6), as SPIRE issues them.
            critical = spec.san_critical or not spec.common_name
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=critical)
        for ext, critical in spec.extra_extensions:
            builder = builder.add_extension(ext, critical=critical)
        return Issued(builder.sign(signer, hashes.SHA256()), key)

    def issue_svid(self, spiffe_id: str, **kwargs: object) -> Issued:
        return self.issue(LeafSpec(uris=[spiffe_id], **kwargs))  # type: ignore[arg-type]


def pem_bundle(certs: Sequence[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def write_leaf(directory: Path, stem: str, leaf: Issued, ca: DevCA) -> tuple[Path, Path]:
    """Write `<stem>.cert.pem` (leaf + intermediates) and `<stem>.key.pem`; return both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    cert_path = directory / f"{stem}.cert.pem"
    key_path = directory / f"{stem}.key.pem"
    cert_path.write_bytes(pem_bundle([leaf.cert, *ca.chain()]))
    key_path.write_bytes(leaf.key_pem())
    key_path.chmod(0o600)
    return cert_path, key_path
