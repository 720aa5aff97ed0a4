"""Realistic policy folders of a chosen size, and request pools that exercise every kind of rule.

Shape (per tenant `tNNNN`: one file, one OIDC tenant-admin rule, then ten namespaces of ten rules):
four writers and three readers by exact SPIFFE ID (produce/consume on topic globs, readers narrowed to
their subscriptions), one explicit deny, one Linkerd suffix (`*.<ns>.serviceaccount...`) and one SPIFFE
pattern (`sa/batch-*`). Three global rules use captures and a plain role. Rule count is exact: the last
tenant is cut short.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from meshgate.model import AccessRequest, Resource

TD = "cluster.local"
ISSUER = "https://sso.bench.test"
NS_PER_TENANT = 10
WRITERS = 4
READERS = 3
GLOBAL_RULES = 3


def k8s_ns(tenant: int, ns: int) -> str:
    return f"t{tenant:04d}-n{ns}"


def spiffe(tenant: int, ns: int, sa: str) -> str:
    return f"spiffe://{TD}/ns/{k8s_ns(tenant, ns)}/sa/{sa}"


def _rule(
    name: str,
    effect: str,
    subjects: list[dict[str, Any]],
    actions: list[str],
    resources: list[str],
    **extra: Any,
) -> dict[str, Any]:
    return {
        "name": name,
        "effect": effect,
        "subjects": subjects,
        "actions": actions,
        "resources": resources,
        **extra,
    }


def namespace_rules(t: int, n: int) -> list[dict[str, Any]]:
    tenant, ns = f"t{t:04d}", f"ns{n}"
    rules = [
        _rule(
            f"{ns}-writer-{i}",
            "allow",
            [{"spiffe": spiffe(t, n, f"writer-{i}")}],
            ["produce"],
            [f"persistent://{tenant}/{ns}/stream-{i}-*"],
        )
        for i in range(WRITERS)
    ]
    rules += [
        _rule(
            f"{ns}-reader-{i}",
            "allow",
            [{"spiffe": spiffe(t, n, f"reader-{i}")}],
            ["consume"],
            [f"persistent://{tenant}/{ns}/*"],
            subscriptions=[f"reader-{i}-*"],
        )
        for i in range(READERS)
    ]
    rules.append(
        _rule(
            f"{ns}-audit-append-only",
            "deny",
            [{"spiffe": spiffe(t, n, "writer-0")}],
            ["topic.produce"],
            [f"persistent://{tenant}/{ns}/audit-log"],
        )
    )
    linkerd = f"*.{k8s_ns(t, n)}.serviceaccount.identity.linkerd.{TD}"
    rules.append(_rule(f"{ns}-workloads-view", "allow", [{"linkerd": linkerd}], ["view"], [f"{tenant}/{ns}"]))
    rules.append(
        _rule(
            f"{ns}-batch",
            "allow",
            [{"spiffe": spiffe(t, n, "batch-*")}],
            ["consume"],
            [f"persistent://{tenant}/{ns}/batch-*"],
        )
    )
    return rules


def tenant_rules(t: int) -> Iterator[dict[str, Any]]:
    oidc = {"oidc": {"issuer": ISSUER, "claim": "groups", "values": [f"t{t:04d}-admins"]}}
    yield _rule("tenant-admins", "allow", [oidc], ["tenant-admin"], [f"t{t:04d}"])
    for n in range(NS_PER_TENANT):
        yield from namespace_rules(t, n)


def global_rules() -> list[dict[str, Any]]:
    team = [{"spiffe": f"spiffe://{TD}/ns/{{ns}}/sa/*"}]
    return [
        _rule(
            "namespace-owns-team-tenant",
            "allow",
            team,
            ["produce", "consume"],
            ["persistent://{ns}-team/*/*"],
        ),
        _rule(
            "no-one-consumes-quarantine",
            "deny",
            team,
            ["topic.consume", "topic.subscribe"],
            ["persistent://{ns}-team/*/*"],
            subscriptions=["quarantine-*"],
        ),
        _rule("ops-dashboard-views", "allow", [{"role": "ops-dashboard"}], ["view"], ["*"]),
    ]


def _document(name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "meshgate.dev/v1",
        "kind": "AccessPolicy",
        "metadata": {"name": name},
        "rules": rules,
    }


@dataclass(frozen=True)
class GeneratedPolicy:
    path: Path
    rules: int
    tenants: int


def write_policy(directory: Path, n_rules: int) -> GeneratedPolicy:
    """Write a folder of exactly `n_rules` rules (at least the global ones) and return what it holds."""
    directory.mkdir(parents=True, exist_ok=True)
    dump = yaml.CSafeDumper if hasattr(yaml, "CSafeDumper") else yaml.SafeDumper
    (directory / "global.yaml").write_text(yaml.dump(_document("global", global_rules()), Dumper=dump))
    left, tenant = max(0, n_rules - GLOBAL_RULES), 0
    while left > 0:
        rules = list(tenant_rules(tenant))[:left]
        body = yaml.dump(_document(f"t{tenant:04d}", rules), Dumper=dump, sort_keys=False)
        (directory / f"t{tenant:04d}.yaml").write_text(body)
        left -= len(rules)
        tenant += 1
    return GeneratedPolicy(directory, max(n_rules, GLOBAL_RULES), tenant)


def _topic(t: int, n: int, local: str) -> Resource:
    tenant, ns = f"t{t:04d}", f"ns{n}"
    return Resource(tenant=tenant, namespace=f"{tenant}/{ns}", topic=f"persistent://{tenant}/{ns}/{local}")


def sample_request(rng: random.Random, tenants: int) -> tuple[str, AccessRequest]:
    """One request of a realistic mix (mostly produce/consume/lookup), labelled with its kind."""
    t, n, i = rng.randrange(tenants), rng.randrange(NS_PER_TENANT), rng.randrange(WRITERS)
    r, x = rng.randrange(READERS), rng.randrange(1000)
    kind = rng.choices(
        [
            "produce",
            "lookup",
            "consume",
            "deny",
            "linkerd-view",
            "batch",
            "no-match",
            "oidc-admin",
            "capture",
        ],
        weights=[30, 20, 20, 5, 5, 5, 8, 2, 5],
    )[0]
    if kind == "produce":
        return kind, AccessRequest(
            spiffe(t, n, f"writer-{i}"), "topic.produce", _topic(t, n, f"stream-{i}-{x}")
        )
    if kind == "lookup":
        return kind, AccessRequest(
            spiffe(t, n, f"reader-{r}"), "topic.lookup", _topic(t, n, f"stream-{i}-{x}")
        )
    if kind == "consume":
        req = AccessRequest(
            spiffe(t, n, f"reader-{r}"),
            "topic.consume",
            _topic(t, n, f"stream-{i}-{x}"),
            subscription=f"reader-{r}-{x}",
        )
        return kind, req
    if kind == "deny":
        return kind, AccessRequest(spiffe(t, n, "writer-0"), "topic.produce", _topic(t, n, "audit-log"))
    if kind == "linkerd-view":
        return kind, AccessRequest(spiffe(t, n, f"svc-{x}"), "topic.get_stats", _topic(t, n, f"stream-0-{x}"))
    if kind == "batch":
        req = AccessRequest(
            spiffe(t, n, f"batch-{x}"), "topic.consume", _topic(t, n, f"batch-{x}"), subscription="nightly"
        )
        return kind, req
    if kind == "no-match":
        other = (t + 1) % max(tenants, 2)
        return kind, AccessRequest(
            spiffe(t, n, f"writer-{i}"), "topic.produce", _topic(other, n, f"stream-{i}-0")
        )
    if kind == "oidc-admin":
        tenant = f"t{t:04d}"
        req = AccessRequest(
            f"alice-{x}@sso",
            "tenant.admin",
            Resource(tenant=tenant),
            issuer=ISSUER,
            attributes={"groups": (f"{tenant}-admins", "staff")},
        )
        return kind, req
    team = f"team{x}"
    res = Resource(
        tenant=f"{team}-team", namespace=f"{team}-team/events", topic=f"persistent://{team}-team/events/e{i}"
    )
    return kind, AccessRequest(f"spiffe://{TD}/ns/{team}/sa/app", "topic.produce", res)


def request_pool(size: int, tenants: int, seed: int = 8) -> list[tuple[str, AccessRequest]]:
    rng = random.Random(seed)
    return [sample_request(rng, tenants) for _ in range(size)]
