"""parse_jwks keeps only keys we would ever accept; VerificationKey binds one key family per key."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from meshgate.oidc import parse_jwks
from meshgate.oidc.keys import JwksError, VerificationKey

from tests.conformance.oidc.mint import jwks_document, signing_keys


def _parse(*entries: dict[str, Any]) -> dict[str, VerificationKey]:
    return parse_jwks(json.dumps({"keys": list(entries)}).encode())


def _jwk(name: str, **extra: Any) -> dict[str, Any]:
    return {**signing_keys()[name].public_jwk(), **extra}


def test_usable_keys_kept() -> None:
    keys = parse_jwks(json.dumps(jwks_document(["rsa1", "ec1", "ed1"])).encode())
    assert sorted(keys) == ["ec-1", "ed-1", "rsa-1"]


@pytest.mark.parametrize(
    "entry",
    [
        _jwk("rsa2", use="enc"),
        {k: v for k, v in _jwk("rsa2").items() if k != "kid"},
        _jwk("rsa2", kid=""),
        _jwk("rsa2", kty="oct", k="c2VjcmV0"),
        _jwk("weak"),
        _jwk("rsa2", n="AQAB"),
        _jwk("rsa2", alg=5),
        {"kty": "EC", "kid": "k1", "crv": "secp256k1", "x": "AA", "y": "AA"},
        "not-an-object",
    ],
    ids=["use-enc", "no-kid", "empty-kid", "oct", "rsa-1024", "garbage-modulus", "alg-not-str", "k1", "str"],
)
def test_unusable_keys_skipped(entry: Any) -> None:
    keys = _parse(entry, _jwk("rsa1"))
    assert list(keys) == ["rsa-1"]


def test_private_key_material_is_refused() -> None:
    import jwt

    private = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(signing_keys()["rsa2"].private))
    assert list(_parse({**private, "kid": "priv"}, _jwk("rsa1"))) == ["rsa-1"]


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"keys": []}',
        b'{"keys": "x"}',
        b'{"keys": [{"kty": "oct", "kid": "a", "k": "AA"}]}',
    ],
)
def test_unusable_documents(body: bytes) -> None:
    with pytest.raises(JwksError):
        parse_jwks(body)


def test_too_many_keys() -> None:
    with pytest.raises(JwksError):
        _parse(*[_jwk("rsa1", kid=f"k{i}") for i in range(65)])


def test_duplicate_kid_keeps_first() -> None:
    keys = _parse(_jwk("rsa1"), _jwk("rsa2", kid="rsa-1"))
    assert keys["rsa-1"].key.public_numbers() == signing_keys()["rsa1"].private.public_key().public_numbers()


def test_key_accepts_only_its_family() -> None:
    keys = parse_jwks(json.dumps(jwks_document(["rsa1", "ec1", "ed1"])).encode())
    assert [alg for alg in ("RS256", "PS512", "ES256", "EdDSA") if keys["rsa-1"].accepts(alg)] == [
        "RS256",
        "PS512",
    ]
    assert [alg for alg in ("ES256", "ES384", "RS256") if keys["ec-1"].accepts(alg)] == ["ES256"]
    assert [alg for alg in ("EdDSA", "ES256") if keys["ed-1"].accepts(alg)] == ["EdDSA"]
    p384 = VerificationKey("p384", ec.generate_private_key(ec.SECP384R1()).public_key(), None)
    assert p384.accepts("ES384") and not p384.accepts("ES256")
