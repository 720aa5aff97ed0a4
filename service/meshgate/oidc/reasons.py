"""The closed set of reasons an OIDC token is refused.

Each value is a stable `AuthenticationError.code`: the CLI, the gRPC response, logs and metrics use it, so a
value never changes once released.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NoReturn

from meshgate.errors import AuthenticationError
from meshgate.principal.codes import PrincipalCode


class Reason(StrEnum):
    ALG_NOT_ALLOWED = "alg_not_allowed"
    BAD_SIGNATURE = "bad_signature"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    WRONG_ISSUER = "wrong_issuer"
    WRONG_AUDIENCE = "wrong_audience"
    UNKNOWN_KID = "unknown_kid"
    JWKS_UNAVAILABLE = "jwks_unavailable"
    TOKEN_TOO_LARGE = "token_too_large"
    MALFORMED = "malformed"
    MISSING_CLAIM = "missing_claim"
    BAD_HEADER = "bad_header"
    BAD_CLAIM = "bad_claim"
    PRINCIPAL_CROSSES_KIND = PrincipalCode.PRINCIPAL_CROSSES_KIND.value  # claims would name another kind
    # RFC 8693 delegation (`meshgate.oidc.delegation`)
    MALFORMED_DELEGATION = "malformed_delegation"  # `act`/`may_act` not an object naming the actor by `sub`
    DELEGATION_TOO_DEEP = "delegation_too_deep"  # more actors than `oidc.max_delegation_depth`
    ACTOR_NOT_PERMITTED = "actor_not_permitted"  # the token's own `may_act` does not name its actor
    DELEGATION_NOT_ACCEPTED = "delegation_not_accepted"  # `act` from a non-SSO issuer, or a foreign caller


def fail(reason: Reason, message: str) -> NoReturn:
    """Raise the `AuthenticationError` for `reason`; the message is for operators, never for the caller."""
    raise AuthenticationError(f"oidc: {message}", code=reason.value)


class UnknownKidError(AuthenticationError):
    """`unknown_kid`, carrying the issuer so the facade can ask that issuer's cache for a refetch."""

    code = Reason.UNKNOWN_KID.value

    def __init__(self, message: str, *, issuer: str) -> None:
        super().__init__(f"oidc: {message}")
        self.issuer = issuer
