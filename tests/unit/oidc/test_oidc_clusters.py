"""Kubernetes issuers of two clusters cannot map into one trust domain unless configured as one (issue #16
item 6): `ns/x` of cluster B must never be `ns/x` of cluster A."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from meshgate.config.service import parse_config
from meshgate.errors import ConfigError
from meshgate.oidc import parse_issuers

A, B, C = "https://k8s-a.example.test", "https://k8s-b.example.test", "https://k8s-c.example.test"


def _k8s(issuer: str, **overrides: Any) -> dict[str, Any]:
    return {
        "issuer": issuer,
        "jwks_url": f"{issuer}/jwks",
        "audiences": ["pulsar"],
        "kind": "kubernetes",
        **overrides,
    }


def _error(issuers: list[dict[str, Any]]) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config({"oidc": {"issuers": issuers}}, Path("/etc/meshgate"))
    return caught.value.message


def _collision(second: int, second_issuer: str, first: int, first_issuer: str, domain: str) -> str:
    return (
        f"oidc.issuers[{second}] ({second_issuer!r}) and oidc.issuers[{first}] ({first_issuer!r}) both map "
        f"service accounts into trust domain {domain!r}, so ns/<ns>/sa/<sa> of one cluster would be that "
        f"principal in the other: give each cluster its own trust_domain, or, if they are one cluster, set "
        f"oidc.issuers[{second}].same_cluster_as: {first_issuer!r}"
    )


@pytest.mark.parametrize(
    ("issuers", "message"),
    [
        ([_k8s(A), _k8s(B)], _collision(1, B, 0, A, "cluster.local")),
        (
            [_k8s(A, trust_domain="prod.example"), _k8s(B, trust_domain="prod.example")],
            _collision(1, B, 0, A, "prod.example"),
        ),
        (
            [
                _k8s(A),
                _k8s(B, trust_domain="b.example"),
                _k8s(C, same_cluster_as=B, trust_domain="b.example"),
                _k8s("https://k8s-d.example.test"),
            ],
            _collision(3, "https://k8s-d.example.test", 0, A, "cluster.local"),
        ),
        (
            [_k8s(A), _k8s(B, same_cluster_as="https://nowhere.example.test")],
            "oidc.issuers[1].same_cluster_as: 'https://nowhere.example.test' is not the issuer of a kind: "
            "kubernetes entry",
        ),
        (
            [_k8s(A), _k8s(B, same_cluster_as=B)],
            "oidc.issuers[1].same_cluster_as: names this issuer itself; "
            "name the other issuer of the same cluster",
        ),
        (
            [_k8s(A), _k8s(B, trust_domain="b.example", same_cluster_as=A)],
            f"oidc.issuers[1].same_cluster_as: {A!r} maps into trust domain 'cluster.local' and this issuer "
            "into 'b.example'; issuers of one cluster map into one trust domain",
        ),
        (
            [{"issuer": A, "jwks_url": f"{A}/jwks", "audiences": ["pulsar"], "same_cluster_as": B}],
            "oidc.issuers[0].same_cluster_as: unknown key",
        ),
    ],
)
def test_issuers_that_would_collide_are_refused(issuers: list[dict[str, Any]], message: str) -> None:
    assert _error(issuers) == message


def test_issuers_of_one_cluster_or_of_separate_trust_domains_load() -> None:
    separate = parse_issuers([_k8s(A, trust_domain="a.example"), _k8s(B, trust_domain="b.example")])
    assert [cfg.trust_domain for cfg in separate] == ["a.example", "b.example"]
    rotating = parse_issuers([_k8s(A), _k8s(B, same_cluster_as=A), _k8s(C, same_cluster_as=B)])
    assert [cfg.same_cluster_as for cfg in rotating] == [None, A, B]
    sso = {"issuer": "https://sso.example.test", "audiences": ["pulsar"]}
    assert len(parse_issuers([_k8s(A), sso])) == 2  # an SSO issuer maps into no trust domain
