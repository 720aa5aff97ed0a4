"""SSO claims cannot forge a workload or super-user principal (issue #16 item 2).

Configuration refuses templates that could cross kinds and super-users in the SSO namespace; the validator
refuses, with `principal_crosses_kind`, any token whose principal would cross anyway.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from meshgate.clock import FixedClock
from meshgate.config.service import parse_config
from meshgate.errors import AuthenticationError, ConfigError
from meshgate.oidc import StaticKeySource, TokenValidator, parse_issuers, parse_jwks
from meshgate.oidc.principal import PrincipalRule

from tests.conformance.oidc.mint import jwks_document, mint, signing_keys

ISS = "https://sso.example.test"
BROKER = "spiffe://cluster.local/ns/pulsar/sa/pulsar-broker"
NOW = datetime(2030, 1, 1, tzinfo=UTC)
T = int(NOW.timestamp())
NAMESPACE = (
    "does not start with the literal 'oidc:': SSO principals live in their own namespace, so that no token "
    "can name a workload (spiffe://...), another provider's role or a super-user; "
    'e.g. "oidc:{iss}#{sub}"'
)


def _issuer(**overrides: Any) -> dict[str, Any]:
    return {"issuer": ISS, "jwks_url": f"{ISS}/jwks", "audiences": ["pulsar"], **overrides}


@pytest.mark.parametrize(
    ("principal", "message"),
    [
        (
            "preferred_username",
            "oidc.issuers[0].principal: 'preferred_username' would copy the claim into the principal as it "
            "is, so a token could name a workload or a super-user; SSO principals start with 'oidc:': "
            'write "oidc:{iss}#{preferred_username}"',
        ),
        (
            "email",
            "oidc.issuers[0].principal: 'email' would copy the claim into the principal as it is, so a "
            "token could name a workload or a super-user; SSO principals start with 'oidc:': "
            'write "oidc:{iss}#{email}"',
        ),
        ("{preferred_username}", f"oidc.issuers[0].principal: '{{preferred_username}}' {NAMESPACE}"),
        ("{iss}#{sub}", f"oidc.issuers[0].principal: '{{iss}}#{{sub}}' {NAMESPACE}"),
        ("user:{email}", f"oidc.issuers[0].principal: 'user:{{email}}' {NAMESPACE}"),
        (
            "oidc",
            "oidc.issuers[0].principal: 'oidc' would copy the claim into the principal as it is, so "
            "a token could name a workload or a super-user; SSO principals start with 'oidc:': "
            'write "oidc:{iss}#{oidc}"',
        ),
    ],
)
def test_start_up_refuses_templates_that_could_cross(principal: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"oidc": {"issuers": [_issuer(principal=principal)]}}, Path("/etc/meshgate"))
    assert caught.value.message == message


def test_start_up_refuses_a_superuser_in_the_sso_namespace() -> None:
    raw = {"policy": {"superusers": [BROKER, "oidc:https://sso.example.test#root"]}}
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, Path("/etc/meshgate"))
    assert caught.value.message == (
        "policy.superusers[1]: 'oidc:https://sso.example.test#root' is an SSO principal (oidc:...); an SSO "
        "login can never be a super-user: grant it what it needs in policy (the `superuser` action answers "
        "the broker's isSuperUser)"
    )


def test_sso_templates_in_the_namespace_still_load() -> None:
    config = parse_config(
        {"policy": {"superusers": [BROKER]}, "oidc": {"issuers": [_issuer(principal="oidc:{email}")]}},
        Path("/etc/meshgate"),
    )
    assert config.oidc.issuers[0].principal is not None


def _validator(superusers: tuple[str, ...] = (), **overrides: Any) -> TokenValidator:
    issuers = parse_issuers([_issuer(**overrides)])
    return TokenValidator(issuers, StaticKeySource({ISS: _keys()}), FixedClock(NOW), superusers=superusers)


def _token(**claims: Any) -> str:
    body = {"iss": ISS, "sub": "alice", "aud": "pulsar", "exp": T + 60, "iat": T - 5, **claims}
    return mint(signing_keys()["rsa1"], {"alg": "RS256", "kid": "rsa-1"}, body)


def _refusal(validator: TokenValidator, token: str) -> AuthenticationError:
    with pytest.raises(AuthenticationError) as caught:
        validator.validate(token)
    return caught.value


def test_a_claim_spelling_the_broker_stays_an_sso_principal() -> None:
    validator = _validator(principal="oidc:{iss}#{preferred_username}")
    identity = validator.validate(_token(preferred_username=BROKER))
    assert identity.principal == f"oidc:{ISS}#{BROKER}"


def test_a_mapping_that_would_cross_is_refused_where_the_principal_is_made() -> None:
    # A rule that configuration no longer accepts, built directly: the validator still refuses it.
    plain = PrincipalRule("preferred_username", ("", ""), ("preferred_username",))
    forged = replace(parse_issuers([_issuer()])[0], principal=plain)
    validator = TokenValidator([forged], StaticKeySource({ISS: _keys()}), FixedClock(NOW))
    refused = _refusal(validator, _token(preferred_username=BROKER))
    assert refused.code == "principal_crosses_kind"
    assert refused.message == (
        f"identity: oidc credentials may not produce {BROKER!r}: it is in the spiffe namespace, "
        "and oidc principals are oidc:..."
    )


def test_an_sso_principal_equal_to_a_superuser_is_refused() -> None:
    validator = _validator(superusers=(f"oidc:{ISS}#root",))
    assert validator.validate(_token(sub="alice")).principal == f"oidc:{ISS}#alice"
    refused = _refusal(validator, _token(sub="root"))
    assert refused.code == "principal_crosses_kind"
    assert refused.message == (
        f"identity: SSO principal 'oidc:{ISS}#root' is a configured super-user; an SSO login can never be one"
    )


def _keys() -> Any:
    return parse_jwks(json.dumps(jwks_document(["rsa1"])).encode())
