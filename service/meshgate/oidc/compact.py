"""Strict parsing of the JWS compact form, before any library sees the token.

Checks, in order: size, character set (`[A-Za-z0-9_-]` segments, exactly three), canonical unpadded base64url,
JSON objects without duplicate keys, NaN/Infinity or excessive nesting. PyJWT's algorithm then verifies the
signature over the very same bytes (`signing_input`, `signature`): nothing is parsed twice.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from meshgate.oidc.reasons import Reason, fail

_SEGMENT = r"[A-Za-z0-9_-]"
# The signature may be empty so that `alg: none` tokens get their own code (alg_not_allowed).
_COMPACT = re.compile(rf"({_SEGMENT}+)\.({_SEGMENT}+)\.({_SEGMENT}*)")


@dataclass(frozen=True, slots=True)
class CompactToken:
    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes  # `header.payload`, as sent: what the signature covers
    signature: bytes


def parse_compact(token: str, max_bytes: int) -> CompactToken:
    if len(token) > max_bytes:
        fail(Reason.TOKEN_TOO_LARGE, f"token has more than {max_bytes} characters")
    match = _COMPACT.fullmatch(token)
    if match is None:
        fail(Reason.MALFORMED, "token is not three base64url segments")
    header_b64, payload_b64, signature_b64 = match.groups()
    signature = b64url_decode(signature_b64, "signature")
    return CompactToken(
        _json_object(header_b64, "header"),
        _json_object(payload_b64, "payload"),
        f"{header_b64}.{payload_b64}".encode("ascii"),
        signature,
    )


def b64url_decode(segment: str, name: str) -> bytes:
    if len(segment) % 4 == 1:
        fail(Reason.MALFORMED, f"{name} has an impossible base64url length")
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        fail(Reason.MALFORMED, f"{name} is not base64url")
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != segment:
        fail(Reason.MALFORMED, f"{name} is not canonical base64url")
    return raw


def _json_object(segment: str, name: str) -> dict[str, Any]:
    raw = b64url_decode(segment, name)
    try:
        value = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        fail(Reason.MALFORMED, f"{name} is not valid JSON ({str(exc)[:80] or type(exc).__name__})")
    if not isinstance(value, dict):
        fail(Reason.MALFORMED, f"{name} is not a JSON object")
    return value


class _DuplicateKeyError(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKeyError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
