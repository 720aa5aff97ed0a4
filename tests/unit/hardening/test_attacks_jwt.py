"""The JWT attacks of jwt_attacks.py against `TokenValidator`: every one refused with its exact code."""

from __future__ import annotations

import json

import pytest
from meshgate.clock import FixedClock
from meshgate.errors import AuthenticationError
from meshgate.oidc import TokenValidator, parse_issuers
from meshgate.oidc.keys import StaticKeySource, parse_jwks

from tests.unit.hardening.jwt_attacks import ATTACKS, ISSUER, NOW, Attack, jwks, signed

ALGORITHMS = ["RS256", "PS256", "ES256", "ES384", "EdDSA"]


@pytest.fixture(scope="module")
def validator() -> TokenValidator:
    issuers = parse_issuers(
        [{"issuer": ISSUER, "jwks_url": "https://sso.attack.test/jwks", "audiences": ["pulsar"],
          "algorithms": ALGORITHMS, "kind": "sso"}]
    )  # fmt: skip
    keys = StaticKeySource({ISSUER: parse_jwks(json.dumps(jwks()).encode())})
    return TokenValidator(issuers, keys, FixedClock(NOW))


def test_a_well_formed_token_is_accepted(validator: TokenValidator) -> None:
    assert validator.validate(signed()).principal == f"oidc:{ISSUER}#alice"
    pinned = signed(hdr={"alg": "RS256", "kid": "pinned-rs256"})
    assert validator.validate(pinned).principal.endswith("#alice")


def test_ids_are_unique() -> None:
    assert len({a.case_id for a in ATTACKS}) == len(ATTACKS)


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.case_id for a in ATTACKS])
def test_attack_is_refused_with_its_code(validator: TokenValidator, attack: Attack) -> None:
    with pytest.raises(AuthenticationError) as caught:
        validator.validate(attack.build())
    assert caught.value.code == attack.error, caught.value.message
