"""Two SSO issuers cannot map users of different IdPs to one principal (threat-model row 16.2).

Start-up refuses two SSO issuers whose principal templates can render the same string (`oidc:{email}` at two
IdPs: whoever chooses an address at one is that person at the other), unless the templates are provably
disjoint: their fixed starts or fixed ends differ, where `{iss}` counts as the issuer's own fixed name.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from meshgate.config.service import parse_config
from meshgate.errors import ConfigError
from meshgate.oidc import parse_issuers
from meshgate.oidc.principal import parse_principal_rule
from meshgate.oidc.sso_principals import may_share, shape_of

A, B, C = "https://a.example.test", "https://b.example.test", "https://c.example.test"
K8S = "https://kubernetes.example.test"


def _sso(issuer: str, principal: str | None = None) -> dict[str, Any]:
    raw: dict[str, Any] = {"issuer": issuer, "jwks_url": f"{issuer}/jwks", "audiences": ["pulsar"]}
    if principal is not None:
        raw["principal"] = principal
    return raw


def _error(issuers: list[dict[str, Any]]) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config({"oidc": {"issuers": issuers}}, Path("/etc/meshgate"))
    return caught.value.message


def _overlap(second: int, second_issuer: str, second_template: str, first: int, first_issuer: str,
             first_template: str) -> str:  # fmt: skip
    return (
        f"oidc.issuers[{second}] ({second_issuer!r}) and oidc.issuers[{first}] ({first_issuer!r}) are SSO "
        f"issuers whose principal templates {second_template!r} and {first_template!r} can render the same "
        "principal, so a user of one IdP would be that principal at the other: put {iss} right after "
        "'oidc:' in both, as the default does (principal: \"oidc:{iss}#{sub}\"), or give each its own fixed "
        'start that does not begin the other\'s, e.g. "oidc:corp/{sub}" and "oidc:partners/{sub}"'
    )


@pytest.mark.parametrize(
    ("issuers", "message"),
    [
        (
            [_sso(A, "oidc:{email}"), _sso(B, "oidc:{email}")],
            _overlap(1, B, "oidc:{email}", 0, A, "oidc:{email}"),
        ),
        (
            [_sso(A, "oidc:{sub}"), _sso(B, "oidc:{email}")],
            _overlap(1, B, "oidc:{email}", 0, A, "oidc:{sub}"),
        ),
        (  # one fixed start begins the other: sub "kc/alice" at A is "oidc:kc/alice" at B
            [_sso(A, "oidc:{sub}"), _sso(B, "oidc:kc/{sub}")],
            _overlap(1, B, "oidc:kc/{sub}", 0, A, "oidc:{sub}"),
        ),
        (
            [_sso(A, "oidc:kc{sub}"), _sso(B, "oidc:kc2{sub}")],
            _overlap(1, B, "oidc:kc2{sub}", 0, A, "oidc:kc{sub}"),
        ),
        (  # the fixed ends fit each other: sub "alice@corp" at A is that principal at B
            [_sso(A, "oidc:{sub}@corp"), _sso(B, "oidc:{sub}")],
            _overlap(1, B, "oidc:{sub}", 0, A, "oidc:{sub}@corp"),
        ),
        (  # {iss} after a varying claim does not keep them apart: "oidc:x/https://a..." is renderable by both
            [_sso(A, "oidc:{email}/{iss}"), _sso(B, "oidc:{email}")],
            _overlap(1, B, "oidc:{email}", 0, A, "oidc:{email}/{iss}"),
        ),
        (  # {iss} first at one issuer only: B's email "https://a.example.test#bob" is A's bob
            [_sso(A), _sso(B, "oidc:{email}")],
            _overlap(1, B, "oidc:{email}", 0, A, "oidc:{iss}#{sub}"),
        ),
        (  # {iss} first at both, but one issuer's name begins the other's with the separator
            [_sso(A), {**_sso(A + "#eu"), "jwks_url": f"{A}/eu/jwks"}],
            _overlap(1, A + "#eu", "oidc:{iss}#{sub}", 0, A, "oidc:{iss}#{sub}"),
        ),
        (  # a template that varies only by {iss} is one fixed principal, which the other can render
            [_sso(A, "oidc:{iss}"), _sso(B, "oidc:{sub}")],
            _overlap(1, B, "oidc:{sub}", 0, A, "oidc:{iss}"),
        ),
        (  # the third issuer collides with the first; a Kubernetes issuer in between plays no part
            [
                _sso(A, "oidc:corp/{email}"),
                {**_sso(K8S), "kind": "kubernetes"},
                _sso(B, "oidc:partners/{email}"),
                _sso(C, "oidc:corp/{sub}"),
            ],
            _overlap(3, C, "oidc:corp/{sub}", 0, A, "oidc:corp/{email}"),
        ),
    ],
    ids=[
        "same-template",
        "bare-claims",
        "start-begins-other",
        "start-without-separator",
        "ends-fit",
        "iss-at-the-end",
        "iss-at-one-only",
        "issuer-name-begins-other",
        "fixed-principal",
        "third-issuer",
    ],
)
def test_sso_issuers_that_can_share_a_principal_are_refused(
    issuers: list[dict[str, Any]], message: str
) -> None:
    assert _error(issuers) == message


@pytest.mark.parametrize(
    "issuers",
    [
        [_sso(A), _sso(B)],  # the default: {iss} right after oidc:
        [_sso(A, "oidc:{iss}#{email}"), _sso(B, "oidc:{iss}#{preferred_username}")],
        [_sso(A, "oidc:corp/{sub}"), _sso(B, "oidc:partners/{sub}")],
        [_sso(A, "oidc:kc/{preferred_username}"), _sso(B, "oidc:okta/{sub}"), _sso(C, "oidc:{iss}#{sub}")],
        [_sso(A, "oidc:{sub}@corp"), _sso(B, "oidc:{sub}@partners")],  # fixed ends that differ
        [_sso(A, "oidc:{iss}"), _sso(B, "oidc:{iss}")],  # two fixed principals
        [_sso(A, "oidc:{email}"), {**_sso(K8S), "kind": "kubernetes"}],  # one SSO issuer
    ],
    ids=["default", "iss-first", "prefixes", "three", "suffixes", "fixed", "one-sso"],
)
def test_provably_disjoint_sso_issuers_start(issuers: list[dict[str, Any]]) -> None:
    assert len(parse_issuers(issuers, where="oidc.issuers")) == len(issuers)


# --- the rule is sound: templates it calls disjoint never render one string ---------------------------------

TEMPLATES = [
    "oidc:{sub}",
    "oidc:{iss}",
    "oidc:{iss}#{sub}",
    "oidc:{sub}#{iss}",
    "oidc:a{sub}",
    "oidc:a#{sub}",
    "oidc:a{sub}#",
    "oidc:{sub}#",
    "oidc:{sub}a",
    "oidc:{sub}/{email}",
    "oidc:{iss}{sub}",
]
ISSUERS = ["a", "a#", "b"]
VALUES = ["".join(chars) for n in (1, 2, 3) for chars in itertools.product("a#b/", repeat=n)]


def _renderings(template: str, issuer: str) -> set[str]:
    rule = parse_principal_rule(template, "t")
    varying = [claim for claim in rule.claims if claim != "iss"]
    out = set()
    for values in itertools.product(VALUES, repeat=len(varying)):
        claims = dict(zip(varying, values, strict=True))
        out.add(rule.render({"iss": issuer, **claims}))
    return out


def test_templates_called_disjoint_never_render_one_principal() -> None:
    shapes = {}
    rendered = {}
    for template, issuer in itertools.product(TEMPLATES, ISSUERS):
        shapes[template, issuer] = shape_of(parse_principal_rule(template, "t"), issuer)
        rendered[template, issuer] = _renderings(template, issuer)
    disjoint = 0
    for one, two in itertools.combinations(shapes, 2):
        if one[1] == two[1]:
            continue  # one issuer has one template
        if not may_share(shapes[one], shapes[two]):
            disjoint += 1
            assert not rendered[one] & rendered[two], (one, two, sorted(rendered[one] & rendered[two])[:3])
    assert disjoint > 50  # the table exercises the rule, not only its "may share" side
