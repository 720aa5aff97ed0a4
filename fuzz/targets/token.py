"""`TokenValidator.validate` on arbitrary strings and on fuzzed JOSE headers and claims.

First input byte picks a mode: 0 the rest is the token verbatim; 1 three NUL-separated fields become the
base64url header, payload and signature; 2 two fields become header and payload, validly signed with the
issuer's Ed25519 key, so claim checks and principal mapping are reached. Invariants: only MeshgateError
escapes; an accepted token carries a genuine signature (checked again without PyJWT) and maps to exactly the
principal its claims name, for a configured issuer, before exp (+ leeway).
"""

from __future__ import annotations

import base64
import functools
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from meshgate.model import Identity
from meshgate.oidc import TokenValidator, parse_issuers
from meshgate.oidc.keys import StaticKeySource, VerificationKey

from fuzz.targets.common import NOW, InvariantViolation, clock, ed_key, rejected_cleanly
from fuzz.targets.reader import Reader

SSO = "https://sso.fuzz.test"
K8S = "https://kubernetes.fuzz.test"
KID = "ed-1"


@functools.cache
def validator() -> TokenValidator:
    issuers = parse_issuers(
        [
            {"issuer": SSO, "jwks_url": "https://sso.fuzz.test/jwks", "audiences": ["pulsar"],
             "algorithms": ["EdDSA", "RS256"], "kind": "sso", "leeway_seconds": 30},
            {"issuer": K8S, "jwks_url": "https://k8s.fuzz.test/jwks", "audiences": ["pulsar"],
             "algorithms": ["EdDSA"], "kind": "kubernetes", "trust_domain": "fuzz.test"},
        ]
    )  # fmt: skip
    key = VerificationKey(KID, ed_key().public_key(), "EdDSA")
    keys = StaticKeySource({SSO: {KID: key}, K8S: {KID: key}})
    return TokenValidator(issuers, keys, clock())


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def build(data: bytes) -> str:
    reader = Reader(data)
    mode = reader.byte() % 3
    if mode == 0:
        return reader.text(reader.rest())
    header, payload = reader.field(), reader.field()
    signing_input = f"{b64(header)}.{b64(payload)}"
    if mode == 1:
        return f"{signing_input}.{b64(reader.rest())}"
    return f"{signing_input}.{b64(ed_key().sign(signing_input.encode()))}"


def target(data: bytes) -> None:
    token = build(data)
    try:
        identity = validator().validate(token)
    except Exception as error:
        if rejected_cleanly(error):
            return
        raise
    check_signature(token)
    check_accepted(token, identity)


def check_signature(token: str) -> None:
    """An independent check, outside PyJWT: the accepted bytes carry our key's signature over them."""
    signing_input, _, signature = token.rpartition(".")
    try:
        ed_key().public_key().verify(base64.urlsafe_b64decode(_padded(signature)), signing_input.encode())
    except (InvalidSignature, ValueError) as error:
        raise InvariantViolation(f"accepted a token without a genuine signature: {token[:80]!r}") from error


def check_accepted(token: str, identity: Identity) -> None:
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(_padded(token.split(".")[1])))
    iss, sub, exp = claims.get("iss"), claims.get("sub"), claims.get("exp")
    if iss == SSO:
        expected = f"oidc:{SSO}#{sub}"
    elif iss == K8S and isinstance(sub, str):
        _, _, namespace, account = sub.split(":")
        expected = f"spiffe://fuzz.test/ns/{namespace}/sa/{account}"
    else:
        raise InvariantViolation(f"accepted a token of issuer {iss!r}")
    if identity.principal != expected or identity.issuer != iss:
        raise InvariantViolation(f"principal {identity.principal!r} does not follow from the claims")
    if not isinstance(exp, int | float) or exp + 30 <= NOW.timestamp():
        raise InvariantViolation(f"accepted a token with exp {exp!r}")


def _padded(segment: str) -> str:
    return segment + "=" * (-len(segment) % 4)
