"""JWT-SVIDs (issue #18): a `kind: spiffe` issuer maps `sub` to the workload's SPIFFE principal, only within
its own trust domain, as credential kind `jwt_svid`; its keys come from a SPIFFE bundle (`use: jwt-svid`) or
from the Workload API's JWT bundles. No SSO mapping can produce that principal (issue #16)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from meshgate.clock import FixedClock
from meshgate.config.service import parse_config
from meshgate.errors import AuthenticationError, ConfigError
from meshgate.identity.jwtbundles import JwtBundlesUnavailable, WorkloadApiJwtBundles
from meshgate.model import CredentialKind
from meshgate.oidc import StaticKeySource, TokenValidator, parse_issuers, parse_jwks
from meshgate.oidc.jwks_cache import JwksCache
from meshgate.oidc.keys import SPIFFE_BUNDLE_USES, JwksError
from meshgate.oidc.settings import OidcSettings
from spiffe import JwtBundle, JwtBundleSet, TrustDomain

from tests.conformance.oidc.mint import jwks_document, mint, signing_keys

ISS = "https://spire.example.org"
TD = "example.org"
WRITER = f"spiffe://{TD}/ns/shop/sa/writer"
NOW = datetime(2030, 1, 1, tzinfo=UTC)
T = int(NOW.timestamp())


def _issuer(**overrides: Any) -> dict[str, Any]:
    return {
        "issuer": ISS,
        "kind": "spiffe",
        "trust_domain": TD,
        "audiences": ["pulsar"],
        "algorithms": ["ES256"],
    }


def _validator() -> TokenValidator:
    keys = parse_jwks(json.dumps(jwks_document(["ec1"])).encode())
    return TokenValidator(parse_issuers([_issuer()]), StaticKeySource({ISS: keys}), FixedClock(NOW))


def _svid(sub: str, **claims: Any) -> str:
    body = {"iss": ISS, "sub": sub, "aud": ["pulsar"], "exp": T + 300, "iat": T - 5, **claims}
    return mint(signing_keys()["ec1"], {"alg": "ES256", "kid": "ec-1", "typ": "JWT"}, body)


def _refusal(token: str) -> AuthenticationError:
    with pytest.raises(AuthenticationError) as caught:
        _validator().validate(token)
    return caught.value


def test_a_jwt_svid_is_the_workloads_spiffe_principal() -> None:
    identity = _validator().validate(_svid(WRITER))
    assert (identity.principal, identity.kind, identity.issuer) == (WRITER, CredentialKind.JWT_SVID, ISS)


@pytest.mark.parametrize(
    ("sub", "message"),
    [
        (
            "spiffe://other.test/ns/shop/sa/writer",
            "oidc: sub 'spiffe://other.test/ns/shop/sa/writer' is outside trust domain 'example.org', "
            "the only one this issuer vouches for",
        ),
        (
            "spiffe://example.org",
            "oidc: sub 'spiffe://example.org' names the trust domain itself, not a workload",
        ),
        ("writer", "oidc: sub of a JWT-SVID must be a SPIFFE ID: 'writer' is not a SPIFFE ID: "),
        ("SPIFFE://example.org/x", "oidc: sub of a JWT-SVID must be a SPIFFE ID: 'SPIFFE://example.org/x'"),
    ],
)
def test_sub_must_be_a_workload_of_the_issuers_trust_domain(sub: str, message: str) -> None:
    refused = _refusal(_svid(sub))
    assert refused.code == "bad_claim"
    assert refused.message.startswith(message)


def test_a_spiffe_issuer_needs_its_trust_domain() -> None:
    raw = _issuer()
    del raw["trust_domain"]
    with pytest.raises(ConfigError) as caught:
        parse_issuers([raw], where="oidc.issuers")
    assert caught.value.message == (
        "oidc.issuers[0].trust_domain: a spiffe issuer needs the trust domain its JWT-SVIDs name"
    )


def test_a_spiffe_issuer_has_no_principal_template() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_issuers([{**_issuer(), "principal": "oidc:{sub}"}], where="oidc.issuers")
    assert caught.value.message == "oidc.issuers[0].principal: unknown key"


def test_workload_api_keys_need_the_workload_api() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"oidc": {"issuers": [_issuer()]}}, Path("/etc/meshgate"))
    assert (
        "takes its keys from the SPIFFE Workload API: set identity.workload_api.enabled"
        in caught.value.message
    )
    enabled = {"identity": {"workload_api": {"enabled": True}}, "oidc": {"issuers": [_issuer()]}}
    assert parse_config(enabled, Path("/etc/meshgate")).oidc.issuers[0].kind.value == "spiffe"


def test_a_spiffe_bundle_keeps_jwt_svid_keys_and_drops_x509_ones() -> None:
    doc = jwks_document(["ec1", "rsa1"])
    doc["keys"][0]["use"] = "jwt-svid"
    doc["keys"][1]["use"] = "x509-svid"
    body = json.dumps(doc).encode()
    assert sorted(parse_jwks(body, SPIFFE_BUNDLE_USES)) == ["ec-1"]
    with pytest.raises(JwksError):
        parse_jwks(body)  # an OIDC issuer's JWKS never counts `jwt-svid` keys


# --- keys from the Workload API's JWT bundles ------------------------------------------------------------


def _bundle_set(keys: Mapping[str, object], td: str = TD) -> JwtBundleSet:
    return JwtBundleSet.of([JwtBundle(TrustDomain(td), dict(keys))])


def _never_connect() -> Any:
    raise AssertionError("not started")


def test_jwt_bundles_serve_the_last_update_and_refuse_while_broken() -> None:
    public = signing_keys()["ec1"].private.public_key()
    bundles = WorkloadApiJwtBundles(_never_connect)
    with pytest.raises(JwtBundlesUnavailable, match="no JWT bundle from the SPIFFE Workload API yet"):
        bundles.authorities(TD)
    bundles.update(_bundle_set({"ec-1": public}))
    assert dict(bundles.authorities(TD)) == {"ec-1": public}
    with pytest.raises(JwtBundlesUnavailable, match=r"no JWT bundle for other.test \(has: example.org\)"):
        bundles.authorities("other.test")


def test_a_new_key_under_the_same_key_id_replaces_the_old_one() -> None:
    """The agent re-keys a kid (a rotation that reuses the id): the new key serves, the old one is gone."""
    keys = signing_keys()
    old, new = keys["ec1"].private.public_key(), keys["k8s1"].private.public_key()
    bundles = WorkloadApiJwtBundles(_never_connect)
    bundles.update(_bundle_set({"ec-1": old}))
    bundles.update(_bundle_set({"ec-1": new}))
    assert dict(bundles.authorities(TD)) == {"ec-1": new}


def test_the_key_cache_reads_the_workload_api_bundles() -> None:
    public = signing_keys()["ec1"].private.public_key()
    bundles = WorkloadApiJwtBundles(_never_connect)
    cache = JwksCache(parse_issuers([_issuer()]), OidcSettings(), jwt_authorities=bundles)
    assert not cache.refresh(ISS)
    assert cache.last_error(ISS) == "no JWT bundle from the SPIFFE Workload API yet"
    bundles.update(_bundle_set({"ec-1": public, "": public}))
    assert cache.refresh(ISS)
    assert sorted(cache.snapshot(ISS).keys) == ["ec-1"]
