"""Kubernetes issuers may share a trust domain only when the configuration says they are one cluster.

A `kind: kubernetes` issuer maps `system:serviceaccount:<ns>:<sa>` to `spiffe://<trust_domain>/ns/<ns>/sa/<sa>`.
Two clusters behind one trust domain would make `ns/x` of one the very principal of `ns/x` of the other, so
issuers that map into one trust domain must be joined, directly or through each other, by
`same_cluster_as: <issuer>` (one cluster whose service-account issuer is being rotated, say).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from meshgate.errors import ConfigError


class K8sIssuer(Protocol):
    @property
    def issuer(self) -> str: ...
    @property
    def trust_domain(self) -> str: ...
    @property
    def same_cluster_as(self) -> str | None: ...


def check_clusters(issuers: Sequence[tuple[int, K8sIssuer]], where: str) -> None:
    """`issuers`: the Kubernetes issuers with their index in the list; errors name `where[i]`."""
    index = {cfg.issuer: (i, cfg) for i, cfg in issuers}
    cluster = {cfg.issuer: cfg.issuer for _, cfg in issuers}  # union-find: issuer -> one of its cluster
    for i, cfg in issuers:
        if cfg.same_cluster_as is not None:
            _check_link(i, cfg, index.get(cfg.same_cluster_as), where)
            cluster[_root(cluster, cfg.issuer)] = _root(cluster, cfg.same_cluster_as)
    for position, (i, cfg) in enumerate(issuers):
        for j, earlier in issuers[:position]:
            same_domain = earlier.trust_domain == cfg.trust_domain
            if same_domain and _root(cluster, earlier.issuer) != _root(cluster, cfg.issuer):
                raise ConfigError(_collision(where, (j, earlier), (i, cfg)))


def _check_link(i: int, cfg: K8sIssuer, target: tuple[int, K8sIssuer] | None, where: str) -> None:
    key = f"{where}[{i}].same_cluster_as"
    if target is None:
        raise ConfigError(f"{key}: {cfg.same_cluster_as!r} is not the issuer of a kind: kubernetes entry")
    j, other = target
    if j == i:
        raise ConfigError(f"{key}: names this issuer itself; name the other issuer of the same cluster")
    if other.trust_domain != cfg.trust_domain:
        raise ConfigError(
            f"{key}: {other.issuer!r} maps into trust domain {other.trust_domain!r} and this issuer into "
            f"{cfg.trust_domain!r}; issuers of one cluster map into one trust domain"
        )


def _root(cluster: dict[str, str], issuer: str) -> str:
    while cluster[issuer] != issuer:
        issuer = cluster[issuer]
    return issuer


def _collision(where: str, first: tuple[int, K8sIssuer], second: tuple[int, K8sIssuer]) -> str:
    (i, a), (j, b) = first, second
    return (
        f"{where}[{j}] ({b.issuer!r}) and {where}[{i}] ({a.issuer!r}) both map service accounts into "
        f"trust domain {b.trust_domain!r}, so ns/<ns>/sa/<sa> of one cluster would be that principal in "
        f"the other: give each cluster its own trust_domain, or, if they are one cluster, set "
        f"{where}[{j}].same_cluster_as: {a.issuer!r}"
    )
