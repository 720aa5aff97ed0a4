"""The SSO recipes of docs/oidc.md (Okta, Keycloak): each snippet loads with meshgate's loaders, a token with
the vendor's claim layout, issued by the real `oidc-provider-mock` process, authenticates to the principal
the recipe promises, and its rules decide as the page says.

The mock's tokens carry whatever claims a user is given (`iss` and `aud` included: its ID token takes the
user's claims last), so they have the vendor's layout; their keys come from the mock's JWKS, which the test
serves at the URL the recipe names (`Rerouted`): the recipe's configuration is used as it is written, but
for `require_kid` (the mock signs without `kid`; Okta and Keycloak do not). Keycloak runs for real in
tests/e2e/test_keycloak_e2e.py; Okta cannot run here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from meshgate.clock import SystemClock
from meshgate.model import AccessRequest, CredentialKind, Identity
from meshgate.oidc import authenticate_token_once
from meshgate.oidc.fetch import FetchError, FetchResult, UrllibFetcher
from meshgate.policy.engine import PolicySnapshot
from meshgate.policy.resources import parse_resource

from tests.support import recipes
from tests.support.oidc_provider import OidcProvider, oidc_provider

pytestmark = pytest.mark.integration

PAGE = "oidc.md"
OKTA = "https://acme.okta.com/oauth2/aus1payments0000000"
KEYCLOAK = "https://sso.example.com/realms/prod"
CI_CLIENT = "0oa1ci0pipeline00000"


class Rerouted:
    """Answers the recipe's key URLs from the mock; any other URL is an error (nothing else is fetched)."""

    def __init__(self, routes: dict[str, str | dict[str, Any]]) -> None:
        self._routes, self._http = routes, UrllibFetcher()

    def fetch(self, url: str) -> FetchResult:
        target = self._routes.get(url)
        if target is None:
            raise FetchError(f"{url}: not a URL of the recipe")
        if isinstance(target, dict):
            return FetchResult(json.dumps(target).encode())
        return self._http.fetch(target)


@pytest.fixture(scope="module")
def provider() -> Iterator[OidcProvider]:
    with oidc_provider() as running:
        yield running


def _authenticate(
    config_name: str, token: str, routes: dict[str, str | dict[str, Any]], tmp: Path
) -> Identity:
    config = recipes.config(PAGE, config_name, tmp)
    (issuer,) = config.oidc.issuers
    assert issuer.require_kid, "the recipe keeps require_kid: the vendor signs with a kid"
    mock_ready = replace(issuer, require_kid=False)  # the mock's tokens carry no kid
    return authenticate_token_once(
        (mock_ready,), token, SystemClock(), settings=config.oidc.settings, fetcher=Rerouted(routes)
    )


def _token(provider: OidcProvider, sub: str, claims: dict[str, Any]) -> str:
    """A token of the mock with these claims; `profile` lets its standard claims through."""
    provider.set_user(sub, claims)
    return provider.id_token(sub, scope="openid profile")


def _decide(policy: PolicySnapshot, identity: Identity, action: str, topic: str) -> str:
    request = AccessRequest(
        identity.principal, action, parse_resource(topic), "s", identity.issuer, identity.attributes
    )
    return policy.decide(request).reason_code


def _okta_claims(**layout: Any) -> dict[str, Any]:
    """Okta's access-token layout (API reference, "Access token" payload) on top of the mock's own."""
    return {"ver": 1, "jti": "AT.fixture", "iss": OKTA, "aud": "api://pulsar", **layout}


def test_okta_recipe(provider: OidcProvider, tmp_path: Path) -> None:
    routes: dict[str, str | dict[str, Any]] = {f"{OKTA}/v1/keys": f"{provider.issuer}/jwks"}
    policy = recipes.policy(PAGE, "okta-policy", tmp_path)
    user = _okta_claims(
        uid="00u1alice000000000", cid="0oa1pulsarcli000000", scp=["openid", "pulsar"],
        groups=["Everyone", "payments-admins"],
    )  # fmt: skip
    alice = _authenticate("okta-config", _token(provider, "alice@example.com", user), routes, tmp_path)
    assert alice.principal == "oidc:okta/alice@example.com"
    assert (alice.kind, alice.issuer) == (CredentialKind.OIDC, OKTA)
    assert alice.attributes["groups"] == ("Everyone", "payments-admins")
    assert alice.attributes["scp"] == ("openid", "pulsar")
    assert alice.attributes["cid"] == ("0oa1pulsarcli000000",)
    assert _decide(policy, alice, "topic.produce", "persistent://acme/payments/orders") == "allowed_by_rule"

    outsider = {**user, "uid": "00u1bob00000000000", "groups": ["Everyone"]}
    bob = _authenticate("okta-config", _token(provider, "bob@example.com", outsider), routes, tmp_path)
    assert _decide(policy, bob, "topic.produce", "persistent://acme/payments/orders") == "no_matching_rule"

    machine = _okta_claims(cid=CI_CLIENT, scp=["pulsar.produce"])  # client credentials: no uid, no groups
    ci = _authenticate("okta-config", _token(provider, CI_CLIENT, machine), routes, tmp_path)
    assert ci.principal == f"oidc:okta/{CI_CLIENT}" and "groups" not in ci.attributes
    assert _decide(policy, ci, "topic.produce", "persistent://acme/payments/ci-builds") == "allowed_by_rule"
    assert _decide(policy, ci, "topic.produce", "persistent://acme/payments/orders") == "no_matching_rule"


def test_keycloak_recipe(provider: OidcProvider, tmp_path: Path) -> None:
    certs = f"{KEYCLOAK}/protocol/openid-connect/certs"
    routes: dict[str, str | dict[str, Any]] = {
        f"{KEYCLOAK}/.well-known/openid-configuration": {"issuer": KEYCLOAK, "jwks_uri": certs},
        certs: f"{provider.issuer}/jwks",
    }
    policy = recipes.policy(PAGE, "keycloak-policy", tmp_path)
    layout = {  # what Keycloak 26 put in the e2e tier's tokens, with the realm file's mappers
        "iss": KEYCLOAK, "aud": ["pulsar", "account"], "azp": "pulsar-cli", "typ": "Bearer",
        "preferred_username": "alice", "groups": ["payments-admins"],
    }  # fmt: skip
    alice = _authenticate("keycloak-config", _token(provider, "f3c1-alice", layout), routes, tmp_path)
    assert alice.principal == "oidc:kc/alice" and alice.attributes["azp"] == ("pulsar-cli",)
    assert _decide(policy, alice, "topic.consume", "persistent://acme/payments/orders") == "allowed_by_rule"
    ci_layout = {**layout, "azp": "ci-pipeline", "preferred_username": "service-account-ci-pipeline"}
    del ci_layout["groups"]
    ci = _authenticate("keycloak-config", _token(provider, "9d2e-ci", ci_layout), routes, tmp_path)
    assert _decide(policy, ci, "topic.produce", "persistent://acme/payments/ci-builds") == "allowed_by_rule"
    assert _decide(policy, ci, "topic.produce", "persistent://acme/payments/orders") == "no_matching_rule"
