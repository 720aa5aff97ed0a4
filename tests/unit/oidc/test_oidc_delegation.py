"""Accountable agents (issue #18 item 3): RFC 8693 `act` and `may_act` in SSO tokens.

A delegated token authenticates its actor, never the person it is about; the chain (the person and every
actor) travels in `Identity.delegation` and in attributes the policy can match. Malformed, foreign or too
deep chains and actors their own `may_act` does not permit are refused with stable codes and exact reasons.
The shapes are also rows of tests/conformance/oidc/cases.yaml; here: messages, limits and configuration.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from meshgate.clock import FixedClock
from meshgate.config.service import parse_config
from meshgate.errors import AuthenticationError, ConfigError
from meshgate.model import Delegation
from meshgate.oidc import StaticKeySource, TokenValidator, parse_issuers, parse_jwks, parse_oidc_settings

from tests.conformance.oidc.mint import jwks_document, mint, signing_keys

ISS = "https://sso.example.test"
NOW = datetime(2030, 1, 1, tzinfo=UTC)
T = int(NOW.timestamp())
ALICE, BOT, CI = f"oidc:{ISS}#alice", f"oidc:{ISS}#deploy-bot", "oidc:https://ci.example.test#orchestrator"


def _validator(depth: int = 4, superusers: tuple[str, ...] = (), **overrides: Any) -> TokenValidator:
    raw = {"issuer": ISS, "jwks_url": f"{ISS}/jwks", "audiences": ["pulsar"], "expose_claims": ["groups"]}
    issuers = parse_issuers([{**raw, **overrides}])
    keys = parse_jwks(json.dumps(jwks_document(["rsa1"])).encode())
    return TokenValidator(
        issuers,
        StaticKeySource({ISS: keys}),
        FixedClock(NOW),
        superusers=superusers,
        max_delegation_depth=depth,
    )


def _token(**claims: Any) -> str:
    body = {
        "iss": ISS,
        "sub": "alice",
        "aud": "pulsar",
        "exp": T + 60,
        "groups": ["payments-admins"],
        **claims,
    }
    return mint(signing_keys()["rsa1"], {"alg": "RS256", "kid": "rsa-1"}, body)


def _refusal(token: str, validator: TokenValidator | None = None) -> AuthenticationError:
    with pytest.raises(AuthenticationError) as caught:
        (validator or _validator()).validate(token)
    return caught.value


def _chain(depth: int) -> dict[str, Any]:
    act: dict[str, Any] = {"sub": f"agent-{depth}"}
    for level in range(depth - 1, 0, -1):
        act = {"sub": f"agent-{level}", "act": act}
    return act


# --- the caller is the actor -------------------------------------------------------------------------


def test_a_delegated_token_authenticates_the_agent_not_the_person() -> None:
    identity = _validator().validate(_token(act={"sub": "deploy-bot"}))
    assert identity.principal == BOT
    assert identity.delegation == Delegation(ALICE, (BOT,))


def test_the_persons_claims_reach_the_policy_only_under_subject() -> None:
    identity = _validator().validate(_token(act={"sub": "deploy-bot", "groups": ["bots"]}))
    assert dict(identity.attributes) == {
        "groups": ("bots",),
        "subject.groups": ("payments-admins",),
        "delegation.subject": (ALICE,),
        "delegation.actors": (BOT,),
    }


def test_nested_actors_are_the_chain_caller_first_each_named_in_its_issuer() -> None:
    act = {"sub": "deploy-bot", "act": {"sub": "orchestrator", "iss": "https://ci.example.test"}}
    identity = _validator().validate(_token(act=act))
    assert identity.principal == BOT
    assert identity.delegation == Delegation(ALICE, (BOT, CI))


def test_without_act_nothing_changes() -> None:
    identity = _validator().validate(_token(may_act={"sub": "deploy-bot"}))
    assert identity.principal == ALICE
    assert identity.delegation is None
    assert dict(identity.attributes) == {"groups": ("payments-admins",)}


def test_an_actor_spelling_a_workload_stays_in_the_sso_namespace() -> None:
    workload = "spiffe://cluster.local/ns/pulsar/sa/pulsar-broker"
    identity = _validator().validate(_token(act={"sub": workload}))
    assert identity.principal == f"oidc:{ISS}#{workload}"


def test_an_actor_named_as_a_superuser_is_refused() -> None:
    refused = _refusal(_token(act={"sub": "root"}), _validator(superusers=(f"oidc:{ISS}#root",)))
    assert refused.code == "principal_crosses_kind"


# --- refused chains, with their reasons ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("claims", "code", "message"),
    [
        (
            {"act": "deploy-bot"},
            "malformed_delegation",
            "claim 'act' must be a JSON object naming the actor (RFC 8693 4.1)",
        ),
        (
            {"act": {"iss": ISS}},
            "malformed_delegation",
            "act.sub must be a non-empty printable string of at most 1024 characters",
        ),
        (
            {"act": {"sub": "bot", "act": {"sub": ["x"]}}},
            "malformed_delegation",
            "act.act.sub must be a non-empty printable string of at most 1024 characters",
        ),
        (
            {"act": {"sub": "bot", "iss": 3}},
            "malformed_delegation",
            "act.iss must be a non-empty printable string when present",
        ),
        (
            {"act": {"sub": "bot", "groups": "x", "iss": ISS, "x": 1}, "groups": 5},
            "bad_claim",
            "claim 'groups' must be a string or a list of strings",
        ),
        (
            {"act": {"sub": "bot", "groups": [1]}},
            "malformed_delegation",
            "act: claim 'groups' must be a string or a list of strings",
        ),
        (
            {"act": {"sub": "bot", "iss": "https://evil.example"}},
            "delegation_not_accepted",
            "act.iss 'https://evil.example' is not the token's issuer: an issuer vouches only for callers "
            "it names itself (earlier actors, in a nested act, may name other issuers)",
        ),
        (
            {"act": {"sub": "deploy-bot"}, "may_act": {"sub": "copilot"}},
            "actor_not_permitted",
            "the token's may_act does not permit its actor: sub is 'deploy-bot' in act, 'copilot' in may_act",
        ),
        (
            {"act": {"sub": "deploy-bot"}, "may_act": {"sub": "deploy-bot", "iss": "https://other.test"}},
            "actor_not_permitted",
            f"the token's may_act does not permit its actor: iss is '{ISS}' in act, "
            "'https://other.test' in may_act",
        ),
        (
            {"act": {"sub": "deploy-bot"}, "may_act": ["deploy-bot"]},
            "malformed_delegation",
            "claim 'may_act' must be a JSON object naming the permitted actor's sub (RFC 8693 4.4)",
        ),
        (
            {"act": _chain(5)},
            "delegation_too_deep",
            "the delegation chain has more than 4 actors (oidc.max_delegation_depth)",
        ),
    ],
    ids=[
        "act-string",
        "act-without-sub",
        "nested-sub-list",
        "act-iss-number",
        "person-claims-still-checked",
        "actor-claims-checked",
        "foreign-caller",
        "may-act-other-sub",
        "may-act-other-iss",
        "may-act-list",
        "too-deep",
    ],
)
def test_refused_chains_name_what_was_wrong(claims: dict[str, Any], code: str, message: str) -> None:
    refused = _refusal(_token(**claims))
    assert (refused.code, refused.message) == (code, f"oidc: {message}")


def test_a_template_claim_the_actor_lacks_is_named() -> None:
    refused = _refusal(_token(email="a@x.io", act={"sub": "bot"}), _validator(principal="oidc:{email}"))
    assert refused.code == "malformed_delegation"
    assert refused.message == (
        "oidc: act does not name the actor as the principal template needs: "
        "claim 'email' is required by the principal mapping"
    )


def test_the_depth_limit_is_configurable_and_zero_refuses_every_delegated_token() -> None:
    assert _validator(depth=5).validate(_token(act=_chain(5))).principal == f"oidc:{ISS}#agent-1"
    refused = _refusal(_token(act={"sub": "bot"}), _validator(depth=0))
    assert refused.code == "delegation_too_deep"
    assert refused.message == "oidc: the token names an actor (act) and oidc.max_delegation_depth is 0"
    assert _validator(depth=0).validate(_token()).principal == ALICE


def test_a_chain_nested_hundreds_deep_is_refused_without_walking_it() -> None:
    refused = _refusal(_token(act=_chain(400)))
    assert refused.code == "delegation_too_deep"


def test_a_kubernetes_token_may_not_delegate() -> None:
    validator = _validator(kind="kubernetes", trust_domain="cluster.local", expose_claims=[])
    refused = _refusal(_token(sub="system:serviceaccount:payments:api", act={"sub": "bot"}), validator)
    assert refused.code == "delegation_not_accepted"
    assert refused.message == (
        "oidc: a kubernetes issuer's token names an actor (act): only sso issuers' tokens delegate"
    )


# --- configuration -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["subject.groups", "delegation.actors", "delegation.anything"])
def test_reserved_attribute_names_cannot_be_exposed(name: str) -> None:
    raw = {
        "issuer": ISS,
        "jwks_url": f"{ISS}/jwks",
        "audiences": ["pulsar"],
        "expose_claims": ["groups", name],
    }
    with pytest.raises(ConfigError) as caught:
        parse_config({"oidc": {"issuers": [raw]}}, Path("/etc/meshgate"))
    assert caught.value.message == (
        f"oidc.issuers[0].expose_claims: {name!r} starts with a prefix reserved for delegated tokens "
        "(subject., delegation.): the policy sees the claims of the person an agent acts for as "
        "subject.<claim>; expose the claim by its own name"
    )


def test_namespaced_claims_with_dots_can_still_be_exposed() -> None:
    raw = {
        "issuer": ISS,
        "jwks_url": f"{ISS}/jwks",
        "audiences": ["pulsar"],
        "expose_claims": ["https://x.io/groups"],
    }
    assert parse_issuers([raw])[0].expose_claims == ("https://x.io/groups",)


def test_max_delegation_depth_defaults_to_4_and_is_bounded() -> None:
    assert parse_oidc_settings({}).max_delegation_depth == 4
    assert parse_oidc_settings({"max_delegation_depth": 0}).max_delegation_depth == 0
    with pytest.raises(ConfigError) as caught:
        parse_oidc_settings({"max_delegation_depth": 17})
    assert "oidc.max_delegation_depth" in caught.value.message
