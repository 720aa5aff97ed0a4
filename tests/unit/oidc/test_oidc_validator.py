"""TokenValidator beyond the conformance table: identity fields, numeric edge cases, fuzzing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from meshgate.clock import FixedClock
from meshgate.errors import AuthenticationError
from meshgate.model import CredentialKind
from meshgate.oidc import Reason, StaticKeySource, TokenValidator, parse_issuers, parse_jwks
from meshgate.oidc.keys import VerificationKey

from tests.conformance.oidc.mint import b64, jwks_document, mint, signing_keys

ISS = "https://sso.example.test"
NOW = datetime(2030, 1, 1, tzinfo=UTC)
T = int(NOW.timestamp())
CODES = {reason.value for reason in Reason}


def _validator(**overrides: Any) -> TokenValidator:
    raw = {"issuer": ISS, "jwks_url": "https://sso.example.test/jwks", "audiences": ["pulsar"]}
    issuers = parse_issuers(
        [{**raw, "algorithms": ["RS256", "PS256"], "expose_claims": ["groups"], **overrides}]
    )
    keys = parse_jwks(json.dumps(jwks_document(["rsa1"])).encode())
    return TokenValidator(issuers, StaticKeySource({ISS: keys}), FixedClock(NOW), max_token_bytes=4096)


def _token(header: dict[str, Any] | None = None, **claims: Any) -> str:
    key = signing_keys()["rsa1"]
    base = {"iss": ISS, "sub": "alice", "aud": "pulsar", "exp": T + 60, "iat": T - 5}
    body = {k: v for k, v in {**base, **claims}.items() if v is not None}
    return mint(key, {"alg": "RS256", "kid": "rsa-1", **(header or {})}, body)


def _code(token: str, validator: TokenValidator | None = None) -> str:
    with pytest.raises(AuthenticationError) as info:
        (validator or _validator()).validate(token)
    return info.value.code


def test_identity_fields() -> None:
    identity = _validator().validate(_token(groups=["a", "b"]))
    assert identity.principal == f"oidc:{ISS}#alice"
    assert identity.kind is CredentialKind.OIDC
    assert identity.issuer == ISS
    assert identity.expires_at == datetime.fromtimestamp(T + 60, UTC)
    assert dict(identity.attributes) == {"groups": ("a", "b")}


def test_identities_of_equal_tokens_share_their_principal_and_expiry() -> None:
    """A cache of verified tokens keeps one identity per token: the equal parts are one object each
    (tokens of one principal, tokens that expire in the same second); different ones stay apart."""
    validator = _validator()
    first, again = (validator.validate(_token(jti=jti)) for jti in ("1", "2"))
    other = validator.validate(_token(sub="bob", exp=T + 61))
    assert first.principal is again.principal and first.expires_at is again.expires_at
    assert (other.principal, other.expires_at) == (f"oidc:{ISS}#bob", datetime.fromtimestamp(T + 61, UTC))
    assert first.expires_at == datetime.fromtimestamp(T + 60, UTC)


def test_fractional_numeric_dates_are_accepted() -> None:
    assert _validator().validate(_token(exp=T + 0.5)).expires_at is not None
    assert _code(_token(exp=T - 0.5)) == "expired"


@pytest.mark.parametrize(
    ("exp", "code"),
    [
        ("1e400", "bad_claim"),
        ("-1", "bad_claim"),
        ("253402300800", "bad_claim"),
        ("1" + "0" * 4400, "malformed"),
    ],
)
def test_numeric_date_out_of_range(exp: str, code: str) -> None:
    payload = f'{{"iss":"{ISS}","sub":"a","aud":"pulsar","exp":{exp}}}'
    token = mint(signing_keys()["rsa1"], {"alg": "RS256", "kid": "rsa-1"}, payload)
    issuers = _validator().issuers.values()
    keys = parse_jwks(json.dumps(jwks_document(["rsa1"])).encode())
    assert _code(token, TokenValidator(issuers, StaticKeySource({ISS: keys}), FixedClock(NOW))) == code


@pytest.mark.parametrize("name", ["enc", "zip", "b64"])
def test_jwe_and_b64_headers_refused(name: str) -> None:
    assert _code(_token({name: False})) == "bad_header"


def test_kid_length_bound_and_size_limit() -> None:
    assert _code(_token({"kid": "k" * 257})) == "bad_header"
    assert _code(_token(pad="x" * 5000)) == "token_too_large"


def test_jwk_alg_binds_the_key() -> None:
    jwk = {**jwks_document(["rsa1"])["keys"][0], "alg": "RS256"}
    keys = parse_jwks(json.dumps({"keys": [jwk]}).encode())
    validator = TokenValidator(_validator().issuers.values(), StaticKeySource({ISS: keys}), FixedClock(NOW))
    assert validator.validate(_token()).principal.endswith("#alice")
    assert _code(_token({"alg": "PS256"}), validator) == "alg_not_allowed"


def test_deeply_nested_json_is_malformed() -> None:
    token = f"{b64(b'[' * 3000)}.{b64(b'{}')}.{b64(b'sig')}"
    assert _code(token, _validator(require_kid=True)) == "malformed"


def test_empty_signature_is_bad_signature() -> None:
    header, payload, _ = _token().split(".")
    assert _code(f"{header}.{payload}.") == "bad_signature"


def test_a_key_below_the_minimum_length_never_verifies_even_if_it_reached_the_key_set() -> None:
    # JWKS loading filters such keys out; the signature check refuses them on its own as well.
    weak = signing_keys()["weak"]
    keys = {"weak-1": VerificationKey("weak-1", weak.private.public_key(), None)}
    validator = TokenValidator(_validator().issuers.values(), StaticKeySource({ISS: keys}), FixedClock(NOW))
    body = {"iss": ISS, "sub": "alice", "aud": "pulsar", "exp": T + 60, "iat": T - 5}
    assert _code(mint(weak, {"alg": "RS256", "kid": "weak-1"}, body), validator) == "alg_not_allowed"


def test_a_signature_by_another_key_with_the_same_kid_is_bad_signature() -> None:
    attacker = signing_keys()["attacker"]
    body = {"iss": ISS, "sub": "alice", "aud": "pulsar", "exp": T + 60, "iat": T - 5}
    assert _code(mint(attacker, {"alg": "RS256", "kid": "rsa-1"}, body)) == "bad_signature"


def test_unknown_issuer_keys_are_unavailable() -> None:
    issuers = parse_issuers([{"issuer": ISS, "jwks_url": "https://x/j", "audiences": ["pulsar"]}])
    validator = TokenValidator(issuers, StaticKeySource({}), FixedClock(NOW))
    assert _code(_token(), validator) == "jwks_unavailable"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_only_raises_stable_codes(text: str) -> None:
    with pytest.raises(AuthenticationError) as info:
        _validator().validate(text)
    assert info.value.code in CODES


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=2), st.integers(min_value=0, max_value=400), st.characters())
def test_any_single_character_change_is_refused(segment: int, index: int, char: str) -> None:
    parts = _token().split(".")
    chars = list(parts[segment])
    position = index % len(chars)
    if chars[position] == char:
        return
    chars[position] = char
    parts[segment] = "".join(chars)
    with pytest.raises(AuthenticationError) as info:
        _validator().validate(".".join(parts))
    assert info.value.code in CODES
