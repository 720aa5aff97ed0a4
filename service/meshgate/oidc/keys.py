"""Verification keys and the `KeySource` protocol through which the validator sees them (it never fetches).

`parse_jwks` turns a JWKS document into `VerificationKey`s, keeping only what we would ever accept: signature
keys (`use` absent or `sig`; a SPIFFE bundle's `jwt-svid` keys when asked) with a `kid`, of type RSA
(>= 2048 bits), EC P-256/384/521 or OKP Ed25519/Ed448. `verification_key` applies the same rule to a key
already parsed (the JWT bundles of the SPIFFE Workload API).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from jwt import PyJWK
from jwt.exceptions import PyJWKError, PyJWTError

log = logging.getLogger(__name__)

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
MIN_RSA_BITS = 2048
MAX_KEYS = 64
_FAMILY_ALG = {"RSA": "RS256", "EC": None, "OKP": "EdDSA"}  # EC: PyJWK picks by curve
_CURVE_FOR_ALG = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}


class KeyState(StrEnum):
    FRESH = "fresh"  # within its refresh interval
    STALE = "stale"  # refresh overdue or failing, still within max_stale_seconds: keys are used
    EXPIRED = "expired"  # older than max_stale_seconds: every token is denied
    NEVER_LOADED = "never_loaded"


@dataclass(frozen=True, slots=True)
class VerificationKey:
    kid: str
    key: PublicKey
    alg: str | None  # the JWK's own `alg`, when it declares one

    def accepts(self, alg: str) -> bool:
        """Whether this key may verify a token whose header says `alg` (each key has one family)."""
        if self.alg is not None and self.alg != alg:
            return False
        if isinstance(self.key, rsa.RSAPublicKey):
            return alg[:2] in ("RS", "PS")
        if isinstance(self.key, ec.EllipticCurvePublicKey):
            return _CURVE_FOR_ALG.get(alg) == self.key.curve.name
        return alg == "EdDSA"


@dataclass(frozen=True, slots=True)
class KeySnapshot:
    state: KeyState
    keys: Mapping[str, VerificationKey] = field(default_factory=lambda: MappingProxyType({}))
    age_seconds: float | None = None  # since the last successful fetch

    @property
    def usable(self) -> bool:
        return self.state in (KeyState.FRESH, KeyState.STALE)


class KeySource(Protocol):
    def snapshot(self, issuer: str) -> KeySnapshot:
        """The current keys of a configured issuer and how fresh they are. Never blocks, never fetches."""
        ...


class StaticKeySource:
    """Fixed key sets, always fresh: for tests and for one-shot validation."""

    def __init__(self, keys_by_issuer: Mapping[str, Mapping[str, VerificationKey]]) -> None:
        self._snapshots = {
            issuer: KeySnapshot(KeyState.FRESH, MappingProxyType(dict(keys)), 0.0)
            for issuer, keys in keys_by_issuer.items()
        }

    def snapshot(self, issuer: str) -> KeySnapshot:
        return self._snapshots.get(issuer, KeySnapshot(KeyState.NEVER_LOADED))


class JwksError(ValueError):
    """A JWKS document that cannot be used at all (not JSON, no usable key)."""


SIGNATURE_USES = ("sig",)
SPIFFE_BUNDLE_USES = ("sig", "jwt-svid")  # a SPIFFE bundle marks JWT-SVID keys `jwt-svid`, CAs `x509-svid`


def parse_jwks(body: bytes, uses: tuple[str, ...] = SIGNATURE_USES) -> dict[str, VerificationKey]:
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise JwksError(f"JWKS is not JSON: {type(exc).__name__}") from None
    entries = doc.get("keys") if isinstance(doc, dict) else None
    if not isinstance(entries, list) or not entries or len(entries) > MAX_KEYS:
        raise JwksError(f"JWKS must have a non-empty 'keys' list of at most {MAX_KEYS} entries")
    keys: dict[str, VerificationKey] = {}
    for entry in entries:
        key = _parse_jwk(entry, uses)
        if key is not None and key.kid not in keys:
            keys[key.kid] = key
    if not keys:
        raise JwksError("JWKS has no usable signature key")
    return keys


def verification_key(kid: str, key: object) -> VerificationKey | None:
    """A parsed public key under `kid`, when it is one we accept (as for a JWKS entry), else None."""
    public = _acceptable(key) if kid else None
    return VerificationKey(kid, public, None) if public is not None else None


def _parse_jwk(entry: object, uses: tuple[str, ...]) -> VerificationKey | None:
    if not isinstance(entry, dict):
        return None
    kid, kty, alg = entry.get("kid"), entry.get("kty"), entry.get("alg")
    if not isinstance(kid, str) or not kid or entry.get("use", "sig") not in uses or kty not in _FAMILY_ALG:
        log.info("jwks: skipping key kid=%r kty=%r use=%r", kid, kty, entry.get("use"))
        return None
    if alg is not None and not isinstance(alg, str):
        return None
    public = _public_key(entry, kty)
    if public is None:
        log.info("jwks: skipping unusable or weak key kid=%r", kid)
        return None
    return VerificationKey(kid, public, alg)


def _public_key(entry: dict[str, Any], kty: str) -> PublicKey | None:
    try:
        loaded = PyJWK(entry, _FAMILY_ALG[kty]).key
    except (PyJWKError, PyJWTError, ValueError, TypeError, KeyError):
        return None
    if isinstance(loaded, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        return None  # a private key published in a JWKS is a misconfiguration; refuse it
    return _acceptable(loaded)


def _acceptable(loaded: object) -> PublicKey | None:
    if isinstance(loaded, rsa.RSAPublicKey) and loaded.key_size < MIN_RSA_BITS:
        return None
    if isinstance(loaded, ec.EllipticCurvePublicKey) and loaded.curve.name not in _CURVE_FOR_ALG.values():
        return None
    if isinstance(loaded, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        return loaded
    if isinstance(loaded, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return loaded
    return None
