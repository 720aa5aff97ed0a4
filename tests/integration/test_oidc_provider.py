"""Integration: real ID tokens from the real oidc-provider-mock process (tests.support.oidc_provider) through
the discovery document, UrllibFetcher, JwksCache and TokenAuthenticator; provider outage. Loopback only.
Rotation, Cache-Control and 503 outages are in test_oidc_jwks_server.py (the mock cannot play them)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # `tests.*` helpers; pytest adds only this dir

from meshgate.clock import SystemClock
from meshgate.errors import AuthenticationError
from meshgate.oidc import (
    OidcSettings,
    TokenAuthenticator,
    authenticate_token_once,
    parse_issuers,
)

from tests.support.oidc_calls import refusal_code as _code
from tests.support.oidc_provider import OidcProvider, oidc_provider

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def provider() -> Iterator[OidcProvider]:
    with oidc_provider() as running:
        running.set_user("alice", {"email": "alice@example.com", "groups": ["payments-oncall", "dev"]})
        yield running


def _provider_issuer(provider: OidcProvider, **overrides: Any) -> dict[str, Any]:
    base = {
        "issuer": provider.issuer,  # discovery_url derived: <issuer>/.well-known/openid-configuration
        "audiences": ["pulsar"],
        "principal": "oidc:{email}",
        "expose_claims": ["groups"],
        "require_kid": False,  # the mock's ID tokens carry no kid (its JWKS has exactly one key)
    }
    return {**base, **overrides}


def test_real_provider_token_is_accepted(provider: OidcProvider) -> None:
    auth = TokenAuthenticator.from_config(
        parse_issuers([_provider_issuer(provider)]), OidcSettings(), SystemClock()
    )

    def scenario() -> Any:
        auth.start()
        try:
            return auth.authenticate(provider.id_token("alice"))
        finally:
            auth.close()

    identity = scenario()
    assert identity.principal == "oidc:alice@example.com"
    assert identity.issuer == provider.issuer
    assert dict(identity.attributes) == {"groups": ("payments-oncall", "dev")}
    assert identity.expires_at is not None and identity.expires_at > datetime.now(UTC)


@pytest.mark.parametrize(
    ("overrides", "client_id", "code"),
    [
        ({}, "someone-else", "wrong_audience"),
        ({"require_kid": True}, "pulsar", "unknown_kid"),
        ({"algorithms": ["ES256"]}, "pulsar", "alg_not_allowed"),
    ],
)
def test_real_provider_token_refused(
    provider: OidcProvider, overrides: dict[str, Any], client_id: str, code: str
) -> None:
    issuers = parse_issuers([_provider_issuer(provider, **overrides)])
    token = provider.id_token("alice", client_id=client_id)
    with pytest.raises(AuthenticationError) as info:
        authenticate_token_once(issuers, token, SystemClock())
    assert info.value.code == code


def test_one_shot_cli_path(provider: OidcProvider) -> None:
    issuers = parse_issuers([_provider_issuer(provider)])
    identity = authenticate_token_once(issuers, provider.id_token("alice"), SystemClock())
    assert identity.principal == "oidc:alice@example.com"


def test_provider_outage_serves_last_good_keys_then_denies() -> None:
    fast = OidcSettings(
        refresh_default_seconds=0.2,
        refresh_min_seconds=0.1,
        refresh_max_seconds=0.5,
        retry_seconds=0.1,
        max_stale_seconds=1.5,
        token_cache_size=0,
    )
    with oidc_provider() as idp:
        idp.set_user("bob", {"email": "bob@example.com"})
        token = idp.id_token("bob")
        auth = TokenAuthenticator.from_config(parse_issuers([_provider_issuer(idp)]), fast, SystemClock())

        def scenario() -> list[str]:
            auth.start()
            ok = (auth.authenticate(token)).principal
            idp.stop()  # the IdP goes away; background refreshes now fail
            time.sleep(0.6)
            stale = (auth.authenticate(token)).principal
            time.sleep(1.2)
            denied = _code(auth, token)
            auth.close()
            return [ok, stale, denied]

        assert scenario() == ["oidc:bob@example.com"] * 2 + ["jwks_unavailable"]
