"""parse_issuers / parse_oidc_settings: defaults, fail-fast errors naming the key."""

from __future__ import annotations

from typing import Any

import pytest
from meshgate.errors import ConfigError
from meshgate.oidc import IssuerKind, OidcSettings, parse_issuers, parse_oidc_settings


def _sso(**overrides: Any) -> dict[str, Any]:
    return {"issuer": "https://sso.example.test", "audiences": ["pulsar"], **overrides}


def _error(raw: list[dict[str, Any]]) -> str:
    with pytest.raises(ConfigError) as info:
        parse_issuers(raw)
    assert info.value.code == "config_invalid"
    return info.value.message


def test_defaults() -> None:
    (cfg,) = parse_issuers([_sso()])
    assert cfg.kind is IssuerKind.SSO
    assert cfg.discovery_url == "https://sso.example.test/.well-known/openid-configuration"
    assert cfg.jwks_url is None
    assert cfg.algorithms == ("RS256",)
    assert cfg.leeway_seconds == 0
    assert cfg.principal is not None and cfg.principal.source == "oidc:{iss}#{sub}"
    assert cfg.require_kid is True


def test_kubernetes_issuer() -> None:
    raw = {
        "issuer": "https://kubernetes.default.svc",
        "jwks_url": "https://10.0.0.1/openid/v1/jwks",
        "audiences": ["pulsar"],
        "kind": "kubernetes",
        "trust_domain": "prod.example",
    }
    (cfg,) = parse_issuers([raw])
    assert (cfg.kind, cfg.trust_domain, cfg.principal) == (IssuerKind.KUBERNETES, "prod.example", None)


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (_sso(audience=["x"]), "issuers[0].audience: unknown key"),
        (_sso(audiences=[]), "issuers[0].audiences"),
        (_sso(audiences="pulsar"), "issuers[0].audiences"),
        (_sso(algorithms=["none"]), "issuers[0].algorithms"),
        (_sso(algorithms=["HS256"]), "issuers[0].algorithms"),
        (_sso(algorithms=["rs256"]), "issuers[0].algorithms"),
        (_sso(algorithms=[]), "issuers[0].algorithms"),
        (_sso(kind="oauth"), "issuers[0].kind"),
        (_sso(leeway_seconds=-1), "issuers[0].leeway_seconds"),
        (_sso(leeway_seconds=301), "issuers[0].leeway_seconds"),
        (_sso(leeway_seconds=True), "issuers[0].leeway_seconds"),
        (_sso(jwks_url="http://idp.example/jwks"), "issuers[0].jwks_url: must use https"),
        (_sso(discovery_url="ftp://idp.example/d"), "issuers[0].discovery_url: must use https"),
        (_sso(jwks_url="https://a/j", discovery_url="https://a/d"), "issuers[0].jwks_url: set either"),
        (_sso(jwks_url="https://user:pw@a/j"), "issuers[0].jwks_url"),
        (_sso(issuer="http://idp.example"), "issuers[0].issuer: discovery URL"),
        (_sso(principal="{sub!r}"), "issuers[0].principal"),
        (_sso(principal="{0}"), "issuers[0].principal"),
        (_sso(principal="{sub.attr}"), "issuers[0].principal"),
        (_sso(principal="static-role"), "issuers[0].principal"),
        (_sso(principal="{sub"), "issuers[0].principal"),
        (_sso(trust_domain="x"), "issuers[0].trust_domain: unknown key"),
        (_sso(expose_claims=["groups", "groups"]), "issuers[0].expose_claims"),
        (_sso(require_kid="yes"), "issuers[0].require_kid"),
        ({"issuer": " https://a", "audiences": ["p"]}, "issuers[0].issuer"),
    ],
)
def test_invalid_issuer_names_the_key(raw: dict[str, Any], fragment: str) -> None:
    assert fragment in _error([raw])


def test_kubernetes_rejects_principal_and_bad_trust_domain() -> None:
    k8s = {"issuer": "https://k", "jwks_url": "https://k/jwks", "audiences": ["p"], "kind": "kubernetes"}
    assert "issuers[0].principal: unknown key" in _error([{**k8s, "principal": "sub"}])
    assert "issuers[0].trust_domain" in _error([{**k8s, "trust_domain": "Bad Domain"}])


def test_duplicate_issuer_and_empty_list() -> None:
    assert "issuers[1].issuer: duplicate" in _error([_sso(), _sso()])
    assert "issuers: must be a non-empty list" in _error([])


def test_error_prefix_is_configurable() -> None:
    with pytest.raises(ConfigError) as info:
        parse_issuers([_sso(audiences=[])], where="oidc.issuers")
    assert info.value.message.startswith("oidc.issuers[0].audiences")


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/jwks", "http://localhost/jwks", "http://[::1]:9/jwks", "https://idp/jwks"]
)
def test_loopback_http_and_https_allowed(url: str) -> None:
    (cfg,) = parse_issuers([_sso(jwks_url=url)])
    assert cfg.jwks_url == url


def test_principal_templates_render() -> None:
    (cfg,) = parse_issuers([_sso(principal="oidc:{email}/{sub}")])
    assert cfg.principal is not None
    assert cfg.principal.render({"email": "a@b", "sub": "s"}) == "oidc:a@b/s"


def test_settings_defaults_and_errors() -> None:
    assert parse_oidc_settings({}) == OidcSettings()
    assert parse_oidc_settings({"max_token_bytes": 4096}).max_token_bytes == 4096
    for raw, fragment in [
        ({"max_stale": 1}, "oidc.max_stale: unknown key"),
        ({"max_token_bytes": 10}, "oidc.max_token_bytes"),
        ({"refresh_min_seconds": "60"}, "oidc.refresh_min_seconds"),
        ({"max_stale_seconds": 100}, "oidc.max_stale_seconds"),
        ({"refresh_default_seconds": 5000}, "oidc.refresh_default_seconds"),
    ]:
        with pytest.raises(ConfigError) as info:
            parse_oidc_settings(raw)
        assert fragment in info.value.message
