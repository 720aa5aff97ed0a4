"""Certificate parsing and validity windows for the X.509 verifier: DER in, value objects or a coded error."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TypeVar

from cryptography import x509

from meshgate.identity.codes import IdentityCode, fail

MAX_CERT_BYTES = 64 * 1024  # far above any real SVID; bounds parsing work per element
E = TypeVar("E", bound=x509.ExtensionType)


def parse_chain(chain_der: Sequence[bytes], max_chain_length: int) -> list[x509.Certificate]:
    """Parse a leaf-first chain of DER certificates; the length is checked before any parsing."""
    if not chain_der:
        fail(IdentityCode.EMPTY_CHAIN, "no certificate presented")
    if len(chain_der) > max_chain_length:
        fail(
            IdentityCode.CHAIN_TOO_LONG,
            f"chain has {len(chain_der)} certificates, at most {max_chain_length}",
        )
    return [_parse_one(i, der) for i, der in enumerate(chain_der)]


def _parse_one(index: int, der: bytes) -> x509.Certificate:
    if not isinstance(der, bytes | bytearray | memoryview) or len(der) > MAX_CERT_BYTES:
        fail(IdentityCode.MALFORMED_CERTIFICATE, f"certificate {index} is not DER bytes of at most 64 KiB")
    try:
        return x509.load_der_x509_certificate(bytes(der))
    except ValueError:
        fail(IdentityCode.MALFORMED_CERTIFICATE, f"certificate {index} is not a DER X.509 certificate")


def extension(cert: x509.Certificate, kind: type[E]) -> x509.Extension[E] | None:
    """The extension of type `kind`, None when absent; a malformed extension block is a malformed cert."""
    try:
        return cert.extensions.get_extension_for_class(kind)
    except x509.ExtensionNotFound:
        return None
    except ValueError as err:
        fail(
            IdentityCode.MALFORMED_CERTIFICATE,
            f"cannot parse extensions of {describe(cert)}: {one_line(err)}",
        )


def check_validity(certs: Sequence[x509.Certificate], now: datetime, skew: timedelta) -> datetime:
    """Fail unless every certificate is valid at `now` give or take `skew`; return the time to verify at.

    The returned time is `now` moved into the chain's common validity window (by at most `skew`), so the path
    builder, which has no notion of skew, agrees with this check.
    """
    for index, cert in enumerate(certs):
        who = "leaf" if index == 0 else f"chain {describe(cert)}"
        if cert.not_valid_after_utc < now - skew:
            fail(IdentityCode.EXPIRED, f"{who} expired at {cert.not_valid_after_utc.isoformat()}")
        if cert.not_valid_before_utc > now + skew:
            fail(
                IdentityCode.NOT_YET_VALID,
                f"{who} is not valid before {cert.not_valid_before_utc.isoformat()}",
            )
    latest_start = max(c.not_valid_before_utc for c in certs)
    earliest_end = min(c.not_valid_after_utc for c in certs)
    return min(max(now, latest_start), earliest_end)


def describe(cert: x509.Certificate) -> str:
    """How a message names a certificate: by subject, or as the one with an empty subject."""
    try:
        subject = cert.subject.rfc4514_string()
    except (ValueError, TypeError):  # cryptography parses names lazily; a malformed one raises either
        return "certificate with an unparseable subject"
    return f"certificate {subject!r}" if subject else "certificate with empty subject"


def one_line(err: Exception) -> str:
    return " ".join(str(err).split())
