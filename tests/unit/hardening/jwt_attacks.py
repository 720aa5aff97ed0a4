"""JWT attacks the OIDC conformance table (tests/conformance/oidc/cases.yaml) does not already hold, each with
the exact code `TokenValidator` must refuse it with. Catalogue ids (J1..J26) are in catalogue.yaml.

Every case is a function of the shared test keys (tests/conformance/oidc/mint.py) returning a token string.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from jwt.algorithms import get_default_algorithms

from tests.conformance.oidc.mint import b64, json_bytes, mint, signing_keys

NOW = datetime(2030, 1, 1, tzinfo=UTC)
ISSUER = "https://sso.attack.test"
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def claims(**changes: Any) -> dict[str, Any]:
    epoch = int(NOW.timestamp())
    base: dict[str, Any] = {"iss": ISSUER, "sub": "alice", "aud": "pulsar"}
    base.update(iat=epoch - 60, exp=epoch + 600)
    for name, value in changes.items():
        if value is None:
            base.pop(name, None)
        else:
            base[name] = value
    return base


def header(key: str = "rsa1", **changes: Any) -> dict[str, Any]:
    k = signing_keys()[key]
    out: dict[str, Any] = {"alg": k.alg, "typ": "JWT", "kid": k.kid}
    out.update(changes)
    return out


def signed(key: str = "rsa1", hdr: dict[str, Any] | str | None = None, payload: Any = None) -> str:
    hdr = header(key) if hdr is None else hdr
    return mint(signing_keys()[key], hdr, claims() if payload is None else payload)


def raw_claims(body: str) -> str:
    """A payload written as text (duplicates, NaN, 1e309 survive), with the attack issuer first."""
    return '{"iss":"' + ISSUER + '",' + body + "}"


def with_signature(hdr: dict[str, Any], signature: bytes, payload: Any = None) -> str:
    unsigned = mint(None, hdr, claims() if payload is None else payload, signing="none")
    return unsigned + b64(signature)


def hmac_token(secret: bytes, kid: str = "rsa-1") -> str:
    hdr = header(alg="HS256", kid=kid)
    signing_input = f"{b64(json_bytes(hdr))}.{b64(json_bytes(claims()))}"
    return f"{signing_input}.{b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


def _public(key: str) -> Any:
    return signing_keys()[key].private.public_key()


def rsa_jwk_json() -> bytes:
    return get_default_algorithms()["RS256"].to_jwk(_public("rsa1")).encode()  # type: ignore[no-any-return]


def rsa_ssh() -> bytes:
    return _public("rsa1").public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)


def ecdsa_raw(r: int, s: int) -> bytes:
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def ecdsa_der_instead_of_raw() -> str:
    """A genuine ES256 signature, but DER-encoded (what Java produces) instead of the JWS raw r||s."""
    k = signing_keys()["ec1"]
    hdr = header("ec1")
    signing_input = f"{b64(json_bytes(hdr))}.{b64(json_bytes(claims()))}"
    from cryptography.hazmat.primitives import hashes

    der = k.private.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))  # type: ignore[call-arg,union-attr]
    decode_dss_signature(der)  # it is DER
    return f"{signing_input}.{b64(der)}"


def nested(depth: int) -> str:
    return raw_claims(
        f'"sub":"alice","aud":"pulsar","exp":{int(NOW.timestamp()) + 600},"x":' + "[" * depth + "]" * depth
    )


def _segments(token: str) -> list[str]:
    return token.split(".")


def jwe_like() -> str:
    _, p, s = _segments(signed())
    return ".".join([b64(b'{"alg":"RSA-OAEP","enc":"A256GCM"}'), "AAAA", "BBBB", p, s])


def json_serialization() -> str:
    h, p, s = _segments(signed())
    return json.dumps({"protected": h, "payload": p, "signature": s})


def alg_variants(alg: str) -> str:
    return with_signature(header(alg=alg), b"")


@dataclass(frozen=True)
class Attack:
    case_id: str
    build: Callable[[], str]
    error: str


def _kid(kid: Any) -> Callable[[], str]:
    return lambda: signed(hdr=header(kid=kid))


def _claims(**changes: Any) -> Callable[[], str]:
    return lambda: signed(payload=claims(**changes))


def _hdr(**changes: Any) -> Callable[[], str]:
    return lambda: signed(hdr=header(**changes))


ATTACKS: tuple[Attack, ...] = (
    # J1 / J1b: alg none in every spelling the conformance table lacks
    Attack("alg-None", lambda: alg_variants("None"), "alg_not_allowed"),
    Attack(
        "alg-none-with-signature", lambda: with_signature(header(alg="none"), b"\x00" * 32), "alg_not_allowed"
    ),
    Attack("alg-empty", lambda: alg_variants(""), "alg_not_allowed"),
    # J2: HMAC keyed with the issuer's public key, JWK JSON and SSH forms (CVE-2026-48526, CVE-2022-29217)
    Attack("hs256-jwk-json-secret", lambda: hmac_token(rsa_jwk_json()), "alg_not_allowed"),
    Attack("hs256-ssh-public-key-secret", lambda: hmac_token(rsa_ssh()), "alg_not_allowed"),
    Attack("hs512-any-secret", lambda: with_signature(header(alg="HS512"), b"x" * 64), "alg_not_allowed"),
    # J2b: a family member that is not on the issuer's list
    Attack("alg-ps512-not-listed", lambda: signed(hdr=header(alg="PS512")), "alg_not_allowed"),
    # J3: psychic signatures and encodings
    Attack(
        "es256-r-s-equal-order",
        lambda: with_signature(header("ec1"), ecdsa_raw(P256_ORDER, P256_ORDER)),
        "bad_signature",
    ),
    Attack("es256-r-zero-s-one", lambda: with_signature(header("ec1"), ecdsa_raw(0, 1)), "bad_signature"),
    Attack(
        "es256-der-encoded-zero",
        lambda: with_signature(header("ec1"), bytes.fromhex("3006020100020100")),
        "bad_signature",
    ),
    Attack("es256-der-instead-of-raw", ecdsa_der_instead_of_raw, "bad_signature"),
    Attack("rs256-empty-signature", lambda: with_signature(header(), b""), "bad_signature"),
    # J4: kid injection and types
    Attack("kid-sql", _kid("' OR 1=1--"), "unknown_kid"),
    Attack("kid-dev-null", _kid("../../dev/null"), "unknown_kid"),
    Attack("kid-10k", _kid("k" * 10_000), "bad_header"),
    Attack("kid-empty", _kid(""), "bad_header"),
    Attack("kid-list", _kid(["rsa-1"]), "bad_header"),
    Attack("kid-object", _kid({"$ne": None}), "bad_header"),
    Attack("kid-null-byte", _kid("rsa-1\x00"), "unknown_kid"),
    # J5-J7 variants: key-carrying headers combined with a valid kid, and JWE-only headers
    Attack("jku-with-valid-kid", _hdr(jku="https://127.0.0.1/jwks"), "bad_header"),
    Attack("x5t-and-x5c", _hdr(x5c=["MIIB"], x5t="abc"), "bad_header"),
    Attack("enc-header", _hdr(enc="A256GCM"), "bad_header"),
    Attack("zip-header", _hdr(zip="DEF"), "bad_header"),
    # J12 / J13: audience shapes; an ID token minted for another client
    Attack("aud-empty-list", _claims(aud=[]), "bad_claim"),
    Attack("aud-case-differs", _claims(aud="Pulsar"), "wrong_audience"),
    Attack("id-token-for-another-client", _claims(aud="web-frontend", nonce="n-0S6"), "wrong_audience"),
    # J15: odd types and values
    Attack(
        "exp-infinite",
        lambda: signed(payload=raw_claims('"sub":"a","aud":"pulsar","exp":1e309')),
        "bad_claim",
    ),
    Attack("exp-negative", _claims(exp=-1), "bad_claim"),
    Attack("exp-beyond-9999", _claims(exp=10**12), "bad_claim"),
    Attack("nbf-bool", _claims(nbf=True), "bad_claim"),
    Attack("iat-string", _claims(iat="yesterday"), "bad_claim"),
    Attack("sub-empty", _claims(sub=""), "bad_claim"),
    Attack("sub-list", _claims(sub=["alice", "admin"]), "bad_claim"),
    Attack(
        "iss-null-json",
        lambda: signed(payload='{"iss":null,"sub":"a","aud":"pulsar","exp":1}'),
        "missing_claim",
    ),
    Attack(
        "payload-nan", lambda: signed(payload=raw_claims('"sub":"a","aud":"pulsar","exp":NaN')), "malformed"
    ),
    Attack("payload-nested-3000", lambda: signed(payload=nested(3000)), "malformed"),
    Attack("header-not-object", lambda: signed(hdr='"RS256"'), "malformed"),
    # J14: duplicates hidden by JSON escapes (same key after decoding)
    Attack(
        "payload-duplicate-escaped-sub",
        lambda: signed(payload=raw_claims('"sub":"alice","s\\u0075b":"admin","aud":"pulsar","exp":1')),
        "malformed",
    ),
    # J16: sizes
    Attack("token-10mb", lambda: "a" * (10 << 20), "token_too_large"),
    Attack("token-one-over-limit", lambda: "a" * 16385, "token_too_large"),
    Attack("token-fullwidth-dots", lambda: signed().replace(".", "\uff0e"), "malformed"),
    Attack("token-nul-byte", lambda: signed()[:20] + "\x00" + signed()[20:], "malformed"),
    # J17: encodings that decode to the same bytes, or are not compact JWS at all
    Attack("signature-bang-suffix", lambda: signed() + "!!", "malformed"),
    Attack("header-padded", lambda: "==.".join(signed().split(".", 1)), "malformed"),
    Attack("payload-noncanonical-bits", lambda: _noncanonical_payload(), "malformed"),
    Attack("jwe-five-segments", jwe_like, "malformed"),
    Attack("json-serialization", json_serialization, "malformed"),
    Attack("empty-string", lambda: "", "malformed"),
    Attack("dots-only", lambda: "..", "malformed"),
    # J18: crit in every shape
    Attack("crit-b64-string", _hdr(crit="b64"), "bad_header"),
    Attack("crit-names-absent-header", _hdr(crit=["exp"]), "bad_header"),
    Attack("crit-b64-list", _hdr(crit=["b64"], b64=False), "bad_header"),
    Attack("b64-false-without-crit", _hdr(b64=False), "bad_header"),
    # J22: EC key used with the wrong curve's algorithm
    Attack(
        "es384-with-p256-key",
        lambda: with_signature(header("ec1", alg="ES384"), bytes(96)),
        "alg_not_allowed",
    ),
    # J24: JWK use=enc, JWK alg disagrees with the token's
    Attack("jwk-use-enc", lambda: signed("rsa2"), "unknown_kid"),
    Attack(
        "jwk-alg-rs256-token-ps256",
        lambda: signed(hdr=header(alg="PS256", kid="pinned-rs256")),
        "alg_not_allowed",
    ),
)


def _noncanonical_payload() -> str:
    h, p, s = _segments(signed())
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    while len(p) % 4 not in (2, 3):  # make sure the payload has unused low bits to set
        p = p[:-1]
    return f"{h}.{p[:-1]}{alphabet[alphabet.index(p[-1]) | 1]}.{s}"


def jwks() -> dict[str, Any]:
    """rsa1, ec1, ed1; rsa2 published for encryption only; rsa1 again under a kid pinned to RS256."""
    keys = signing_keys()
    rsa2 = {**keys["rsa2"].public_jwk(), "use": "enc"}
    pinned = {**keys["rsa1"].public_jwk(), "kid": "pinned-rs256", "alg": "RS256"}
    plain = [keys[name].public_jwk() for name in ("rsa1", "ec1", "ed1")]
    return {"keys": [*plain, rsa2, pinned]}
