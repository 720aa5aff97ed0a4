"""Test keys and a raw token minter. Keys are generated per process (never checked in).

`mint` builds tokens byte by byte so tests can produce what well-behaved libraries refuse to: duplicate JSON
keys, `alg: none`, HS256 keyed with an RSA public key PEM, zeroed ECDSA signatures, non-canonical base64.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import get_default_algorithms

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


@dataclass(frozen=True)
class SigningKey:
    name: str
    kid: str
    private: PrivateKey
    alg: str  # the algorithm this key signs with by default

    def public_jwk(self) -> dict[str, Any]:
        algorithm = get_default_algorithms()[self.alg]
        jwk: dict[str, Any] = json.loads(algorithm.to_jwk(self.private.public_key()))
        return {**jwk, "kid": self.kid, "use": "sig"}

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


@functools.cache
def signing_keys() -> dict[str, SigningKey]:
    rsa_key = functools.partial(rsa.generate_private_key, public_exponent=65537)
    keys = [
        SigningKey("rsa1", "rsa-1", rsa_key(key_size=2048), "RS256"),
        SigningKey("rsa2", "rsa-2", rsa_key(key_size=2048), "RS256"),
        SigningKey("attacker", "rsa-1", rsa_key(key_size=2048), "RS256"),  # same kid as rsa1, other key
        SigningKey("k8s1", "k8s-1", rsa_key(key_size=2048), "RS256"),
        SigningKey("weak", "weak-1", rsa_key(key_size=1024), "RS256"),
        SigningKey("ec1", "ec-1", ec.generate_private_key(ec.SECP256R1()), "ES256"),
        SigningKey("ed1", "ed-1", ed25519.Ed25519PrivateKey.generate(), "EdDSA"),
    ]
    return {key.name: key for key in keys}


def jwks_document(names: list[str]) -> dict[str, Any]:
    keys = signing_keys()
    return {"keys": [keys[name].public_jwk() for name in names]}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def json_bytes(value: dict[str, Any] | str) -> bytes:
    """A raw JSON string is used verbatim (duplicate keys survive); a dict is serialised compactly."""
    if isinstance(value, str):
        return value.encode("utf-8")
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def mint(
    key: SigningKey | None,
    header: dict[str, Any] | str,
    payload: dict[str, Any] | str,
    *,
    signing: str = "normal",
) -> str:
    signing_input = f"{b64(json_bytes(header))}.{b64(json_bytes(payload))}"
    return f"{signing_input}.{b64(_signature(key, signing_input.encode(), header, signing))}"


def _signature(key: SigningKey | None, message: bytes, header: dict[str, Any] | str, signing: str) -> bytes:
    if signing == "none" or key is None:
        return b""
    if signing == "hs256_public_pem":
        return hmac.new(key.public_pem(), message, hashlib.sha256).digest()
    if signing == "zero_ecdsa":
        return bytes(64)
    alg = header.get("alg", key.alg) if isinstance(header, dict) else key.alg
    algorithm = get_default_algorithms()[alg]
    return algorithm.sign(message, algorithm.prepare_key(key.private))
