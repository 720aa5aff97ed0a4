"""A cache hit restores the identity from pieces (`meshgate.oidc.token_cache`): it must equal the verified
one field for field, for every kind of token: Kubernetes service-account tokens, SSO tokens with groups and
delegated (RFC 8693 `act`) agent tokens, through the real `TokenAuthenticator`."""

from __future__ import annotations

import dataclasses
import inspect
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from meshgate.clock import FixedClock
from meshgate.model import Identity
from meshgate.oidc import OidcSettings, TokenAuthenticator, TokenValidator, parse_issuers

from tests.conformance.oidc.fakes import FakeFetcher
from tests.conformance.oidc.mint import jwks_document, mint, signing_keys

SSO, K8S = "https://sso.example.test", "https://k8s.example.test"
NOW = datetime(2030, 1, 1, tzinfo=UTC)
T = int(NOW.timestamp())
ISSUERS = parse_issuers(
    [
        {"issuer": SSO, "jwks_url": f"{SSO}/jwks", "audiences": ["pulsar"], "expose_claims": ["groups"]},
        {
            "issuer": K8S,
            "jwks_url": f"{K8S}/jwks",
            "audiences": ["pulsar"],
            "kind": "kubernetes",
            "expose_claims": ["groups"],
        },
    ]
)
NAMES = st.sampled_from(["alice", "bob", "deploy-bot", "ci", "x"])
GROUPS = st.lists(st.sampled_from(["payments", "oncall", "staff", "admins"]), max_size=3, unique=True)
ACTORS = st.lists(st.fixed_dictionaries({"sub": NAMES, "groups": GROUPS}), max_size=3)


def _chain(actors: list[dict[str, Any]]) -> dict[str, Any] | None:
    act: dict[str, Any] | None = None
    for actor in reversed(actors):
        act = {**actor, **({"act": act} if act else {})}
    return act


def _claims(
    kind: str, name: str, groups: list[str], actors: list[dict[str, Any]], life: int
) -> dict[str, Any]:
    if kind == "k8s":
        sub = f"system:serviceaccount:team-{name}:client-{name}"
        return {"iss": K8S, "sub": sub, "aud": "pulsar", "exp": T + life, "groups": groups}
    claims = {"iss": SSO, "sub": name, "aud": "pulsar", "exp": T + life, "groups": groups}
    act = _chain(actors) if kind == "delegated" else None
    return claims | ({"act": act} if act else {})


def _minted(kind: str, name: str, groups: list[str], actors: list[dict[str, Any]], life: int) -> str:
    key = signing_keys()["k8s1" if kind == "k8s" else "rsa1"]
    return mint(key, {"alg": "RS256", "kid": key.kid}, _claims(kind, name, groups, actors, life))


def _authenticator() -> tuple[TokenAuthenticator, TokenValidator]:
    docs = {f"{SSO}/jwks": jwks_document(["rsa1"]), f"{K8S}/jwks": jwks_document(["k8s1"])}
    settings_ = OidcSettings(token_cache_size=64, token_cache_ttl_seconds=600)
    auth = TokenAuthenticator.from_config(ISSUERS, settings_, FixedClock(NOW), fetcher=FakeFetcher(docs))
    for issuer in (SSO, K8S):
        auth.keys.refresh(issuer)
    for kind in (
        "k8s",
        "sso",
    ):  # the first token of an issuer tags the cache with its key set (and clears it)
        auth.authenticate(_minted(kind, "warm-up", [], [], 60))
    return auth, TokenValidator(ISSUERS, auth.keys, FixedClock(NOW), max_delegation_depth=4)


AUTH, FRESH = _authenticator()


@settings(max_examples=60, deadline=None)
@given(
    tokens=st.lists(
        st.tuples(st.sampled_from(["k8s", "sso", "delegated"]), NAMES, GROUPS, ACTORS, st.integers(1, 900)),
        min_size=1,
        max_size=6,
    )
)
def test_a_hit_equals_the_verified_identity_for_every_kind_of_token(tokens: list[Any]) -> None:
    AUTH.tokens.clear()
    minted = [_minted(*token) for token in tokens]
    verified = [AUTH.authenticate(token) for token in minted]  # first sight: verified, then cached
    hits_before = AUTH.tokens.hits
    cached = [AUTH.authenticate(token) for token in minted]
    assert AUTH.tokens.hits - hits_before == len(minted)
    for token, first, hit in zip(minted, verified, cached, strict=True):
        assert hit == first == FRESH.validate(token)
        assert [getattr(hit, f.name) for f in dataclasses.fields(Identity)] == [
            getattr(first, f.name) for f in dataclasses.fields(Identity)
        ]
        assert dict(hit.attributes) == dict(first.attributes)


def test_restore_sets_every_field_of_an_identity() -> None:
    """`Identity.restore` names each field: a field added to `Identity` must be added there too."""
    params = list(inspect.signature(Identity.restore).parameters)
    assert params == [f.name for f in dataclasses.fields(Identity)]
