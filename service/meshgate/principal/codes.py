"""Failure codes raised by `meshgate.principal`, and the one way to raise them.

Codes are stable: they reach logs, metrics, audit records and the gRPC response. A name a credential carries
is an identity, so messages start with `identity:` like the rest of `meshgate.identity`'s, are one line and
name what was wrong; tests assert both.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NoReturn

from meshgate.errors import AuthenticationError


class PrincipalCode(StrEnum):
    MALFORMED_SPIFFE_ID = "malformed_spiffe_id"  # not a valid SPIFFE ID or trust domain name
    PRINCIPAL_CROSSES_KIND = "principal_crosses_kind"  # a credential would name another kind's principal


def fail(code: PrincipalCode, message: str) -> NoReturn:
    """Raise the AuthenticationError for `code`; `message` is one line without the package prefix."""
    raise AuthenticationError(f"identity: {message}", code=code.value)
