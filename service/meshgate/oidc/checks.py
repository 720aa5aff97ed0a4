"""Header and claim checks that run around PyJWT's signature check. Time comes from the caller (`now`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from meshgate.oidc.issuers import SUPPORTED_ALGORITHMS, IssuerConfig
from meshgate.oidc.reasons import Reason, fail

# Headers that name or carry keys: never honoured, so a token that uses them is refused outright.
_KEY_CARRYING_HEADERS = ("jku", "x5u", "jwk", "x5c")
_JWE_HEADERS = ("enc", "zip")
MAX_KID_LENGTH = 256
MAX_NUMERIC_DATE = 253402300799  # 9999-12-31T23:59:59Z


def check_header(header: Mapping[str, Any]) -> tuple[str, str | None]:
    """Issuer-independent header rules. Returns (alg, kid)."""
    alg = header.get("alg")
    if not isinstance(alg, str):
        fail(Reason.BAD_HEADER, "header alg is missing or not a string")
    if alg not in SUPPORTED_ALGORITHMS:
        fail(Reason.ALG_NOT_ALLOWED, f"algorithm {alg[:20]!r} is never accepted")
    for name in (*_KEY_CARRYING_HEADERS, *_JWE_HEADERS, "crit", "b64"):
        if name in header:
            fail(Reason.BAD_HEADER, f"header {name!r} is not supported")
    kid = header.get("kid")
    if kid is not None and (not isinstance(kid, str) or not 0 < len(kid) <= MAX_KID_LENGTH):
        fail(Reason.BAD_HEADER, "header kid must be a non-empty string of at most 256 characters")
    return alg, kid


def unverified_issuer(payload: Mapping[str, Any], issuers: Mapping[str, IssuerConfig]) -> IssuerConfig:
    iss = require_str(payload, "iss")
    config = issuers.get(iss)
    if config is None:
        fail(Reason.WRONG_ISSUER, "iss is not a configured issuer")
    return config


def require_str(payload: Mapping[str, Any], claim: str) -> str:
    value = payload.get(claim)
    if value is None:
        fail(Reason.MISSING_CLAIM, f"claim {claim!r} is required")
    if not isinstance(value, str) or not value:
        fail(Reason.BAD_CLAIM, f"claim {claim!r} must be a non-empty string")
    return value


def numeric_date(payload: Mapping[str, Any], claim: str) -> float | None:
    value = payload.get(claim)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_NUMERIC_DATE:
        fail(Reason.BAD_CLAIM, f"claim {claim!r} must be a NumericDate (number of seconds)")
    return float(value)


def check_times(payload: Mapping[str, Any], now: float, leeway: int) -> float:
    """exp required; nbf and iat honoured. Returns exp. Boundaries follow RFC 7519: exp is exclusive."""
    exp, nbf, iat = (numeric_date(payload, claim) for claim in ("exp", "nbf", "iat"))
    if exp is None:
        fail(Reason.MISSING_CLAIM, "claim 'exp' is required")
    if now >= exp + leeway:
        fail(Reason.EXPIRED, "token has expired")
    if nbf is not None and now < nbf - leeway:
        fail(Reason.NOT_YET_VALID, "token is not valid yet (nbf)")
    if iat is not None and iat > now + leeway:
        fail(Reason.NOT_YET_VALID, "token was issued in the future (iat)")
    return exp


def check_audience(payload: Mapping[str, Any], audiences: tuple[str, ...]) -> None:
    aud = payload.get("aud")
    if aud is None:
        fail(Reason.MISSING_CLAIM, "claim 'aud' is required")
    values = [aud] if isinstance(aud, str) else aud
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        fail(Reason.BAD_CLAIM, "claim 'aud' must be a string or a non-empty list of strings")
    if not set(values).intersection(audiences):
        fail(Reason.WRONG_AUDIENCE, "aud does not name this service")
