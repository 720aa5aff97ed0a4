"""The one table of authentication failure codes raised by `meshgate.identity`.

Codes are stable: they reach logs, metrics, audit records and the gRPC response. Messages are one line, start
with `identity:` and name what was wrong; tests assert both.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NoReturn

from meshgate.errors import AuthenticationError
from meshgate.principal.codes import PrincipalCode


class IdentityCode(StrEnum):
    MALFORMED_CERTIFICATE = "malformed_certificate"  # a chain element is not one DER certificate
    EMPTY_CHAIN = "empty_chain"  # no certificate was presented
    CHAIN_TOO_LONG = "chain_too_long"  # more certificates than max_chain_length
    NO_IDENTITY = "no_identity"  # no URI SAN and no Linkerd DNS-form identity
    MULTIPLE_URI_SANS = "multiple_uri_sans"  # an X.509-SVID has exactly one URI SAN
    AMBIGUOUS_IDENTITY = "ambiguous_identity"  # more than one Linkerd DNS-form identity
    MALFORMED_SPIFFE_ID = PrincipalCode.MALFORMED_SPIFFE_ID.value  # the URI SAN is not a valid SPIFFE ID
    SVID_LEAF_IS_CA = "svid_leaf_is_ca"  # basicConstraints cA=true in the leaf
    BAD_KEY_USAGE = "bad_key_usage"  # key usage absent, non-critical, no digitalSignature, or a CA bit
    BAD_EKU = "bad_eku"  # EKU present without clientAuth
    WEAK_KEY = "weak_key"  # RSA below 2048 bits, or a key type other than P-256/P-384/RSA
    EXPIRED = "expired"  # a certificate's notAfter is before now - skew
    NOT_YET_VALID = "not_yet_valid"  # a certificate's notBefore is after now + skew
    UNKNOWN_TRUST_DOMAIN = "unknown_trust_domain"  # no trust bundle for the leaf's trust domain
    WRONG_TRUST_DOMAIN = "wrong_trust_domain"  # a CA of one trust domain vouches for an ID in another
    UNTRUSTED_CHAIN = "untrusted_chain"  # no path to a CA of the leaf's trust domain
    L5D_HEADER_NOT_TRUSTED = "l5d_header_not_trusted"  # l5d-client-id is disabled
    L5D_HEADER_NOT_LOOPBACK = "l5d_header_not_loopback"  # l5d-client-id from a non-loopback peer
    L5D_HEADER_MALFORMED = "l5d_header_malformed"  # l5d-client-id is not a Linkerd identity of this mesh


def fail(code: IdentityCode, message: str) -> NoReturn:
    """Raise the AuthenticationError for `code`; `message` is one line without the package prefix."""
    raise AuthenticationError(f"identity: {message}", code=code.value)
