"""The X.509-SVID leaf profile (spiffe/spiffe X509-SVID.md section 4) beyond what path building checks.

cryptography's client verifier rejects a CA leaf and keyCertSign, but it does not require digitalSignature,
does not reject cRLSign, accepts a non-critical or missing key usage and accepts RSA-1024 leaf keys.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from meshgate.identity.certs import extension
from meshgate.identity.codes import IdentityCode, fail

MIN_RSA_BITS = 2048
ALLOWED_CURVES = ("secp256r1", "secp384r1")


def check_leaf_profile(leaf: x509.Certificate) -> None:
    """Fail with the first rule the leaf breaks: not a CA, key usage, EKU, key strength."""
    _check_not_ca(leaf)
    _check_key_usage(leaf)
    _check_eku(leaf)
    check_key(leaf)


def _check_not_ca(leaf: x509.Certificate) -> None:
    constraints = extension(leaf, x509.BasicConstraints)
    if constraints is not None and constraints.value.ca:
        fail(IdentityCode.SVID_LEAF_IS_CA, "leaf has basicConstraints cA=true; an SVID leaf is not a CA")


def _check_key_usage(leaf: x509.Certificate) -> None:
    usage = extension(leaf, x509.KeyUsage)
    if usage is None:
        fail(IdentityCode.BAD_KEY_USAGE, "leaf has no key usage extension")
    if not usage.critical:
        fail(IdentityCode.BAD_KEY_USAGE, "leaf key usage extension is not critical")
    if not usage.value.digital_signature:
        fail(IdentityCode.BAD_KEY_USAGE, "leaf key usage lacks digitalSignature")
    if usage.value.key_cert_sign or usage.value.crl_sign:
        fail(IdentityCode.BAD_KEY_USAGE, "leaf key usage asserts keyCertSign or cRLSign")


def _check_eku(leaf: x509.Certificate) -> None:
    eku = extension(leaf, x509.ExtendedKeyUsage)
    if eku is not None and ExtendedKeyUsageOID.CLIENT_AUTH not in eku.value:
        fail(IdentityCode.BAD_EKU, "leaf extended key usage does not include clientAuth")


def check_key(cert: x509.Certificate) -> None:
    """P-256, P-384 or RSA of at least 2048 bits; anything else is `weak_key`."""
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            fail(IdentityCode.WEAK_KEY, f"leaf RSA key has {key.key_size} bits, needs {MIN_RSA_BITS}")
        return
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in ALLOWED_CURVES:
        return
    kind = key.curve.name if isinstance(key, ec.EllipticCurvePublicKey) else type(key).__name__
    fail(IdentityCode.WEAK_KEY, f"leaf key type {kind} is not allowed (P-256, P-384, RSA-2048 or larger)")
