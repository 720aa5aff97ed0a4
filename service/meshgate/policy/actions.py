"""The action names the broker shim sends, and the patterns and verbs rules may use for them.

This module is the contract with the Java shim: every name below is built from one of Pulsar's
authorization enums, lower-cased, and `docs/policy.md` documents the same table. A name not in
`ACTIONS` is unknown and always denied.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from types import MappingProxyType
from typing import Final

from meshgate.errors import PolicyError
from meshgate.policy import operations

TOPIC_OPERATIONS: Final = tuple(op for op, _ in operations.TOPIC)
NAMESPACE_OPERATIONS: Final = tuple(op for op, _ in operations.NAMESPACE)
TENANT_OPERATIONS: Final = tuple(op for op, _ in operations.TENANT)
POLICY_NAMES: Final = operations.POLICY_NAMES
POLICY_OPERATIONS: Final = tuple(op for op, _ in operations.POLICY)
BROKER_OPERATIONS: Final = tuple(op for op, _ in operations.BROKER)
CLUSTER_OPERATIONS: Final = tuple(op for op, _ in operations.CLUSTER)

SUPERUSER: Final = "superuser"
TENANT_ADMIN: Final = "tenant.admin"
# Pulsar asks these before, or instead of, the question about the operation itself: a principal that holds
# one is let through without meshgate hearing about the operation, so explicit denies never run for it.
# In an allow rule a wildcard never expands to them: the rule must name them (see `expand_pattern`).
GRANTS: Final = frozenset({SUPERUSER, TENANT_ADMIN})


def _policy_actions(prefix: str) -> list[str]:
    return [f"{prefix}.{name}.{op}" for name in POLICY_NAMES for op in POLICY_OPERATIONS]


ACTIONS: Final[tuple[str, ...]] = tuple(name for name, _ in operations.table())
ACTION_SET: Final[frozenset[str]] = frozenset(ACTIONS)

# Actions whose request may name a subscription; a rule's `subscriptions` list narrows only these.
SUBSCRIPTION_ACTIONS: Final[frozenset[str]] = frozenset(
    {
        "topic.consume", "topic.subscribe", "topic.unsubscribe", "topic.skip", "topic.reset_cursor",
        "topic.expire_messages", "topic.peek_messages", "topic.set_replicated_subscription_status",
        "topic.get_replicated_subscription_status", "namespace.unsubscribe",
    }
)  # fmt: skip
# Of those, the ones Pulsar (4.0, 4.2) also asks without naming one, and when: there a narrowed allow does
# not apply and a narrowed deny does (`meshgate validate` warns about rules that narrow them).
ASKED_WITHOUT_SUBSCRIPTION: Final = MappingProxyType(
    {
        "namespace.unsubscribe": "always (the broker names no subscription for namespace operations)",
        "topic.expire_messages": "to expire messages on all subscriptions at once",
        "topic.peek_messages": "to examine a message or get one by id",
    }
)

# What Pulsar (4.0, 4.2: AuthorizationService, PulsarWebResource, the admin resources) lets a principal
# do without asking the operation itself, once the broker plugin answered yes to the grant. Besides these
# actions, a super-user passes every admin call that asks nothing but `superuser` (~40: broker stats,
# bookies, resource groups and quotas, namespace unload and bundle split, publish rate, delayed delivery,
# bookie affinity, transactions), and a tenant admin (or super-user) every call that asks nothing but
# `tenant.admin` (~20: topic truncate, topic permissions, namespace properties, schema admin, max message
# size). A deny on any of these actions never runs for a principal holding the grant.
SKIPPED_BY_GRANT: Final = MappingProxyType(
    {
        SUPERUSER: frozenset(
            {
                TENANT_ADMIN,  # every tenant-admin call asks `superuser` first
                "namespace.functions", "namespace.sources", "namespace.sinks",  # super-user or tenant admin
                "topic.lookup",  # WebSocket lookups (canLookup), partitioned-topic metadata
                "tenant.list_tenants", "tenant.get_tenant", "tenant.create_tenant", "tenant.update_tenant",
                "tenant.delete_tenant",  # the tenants resource: super-user OR the operation
                *(f"broker.{op}" for op in BROKER_OPERATIONS),  # super-user OR the operation
                *(f"cluster.{op}" for op in CLUSTER_OPERATIONS),  # super-user OR the operation
                *_policy_actions("cluster_policy"),  # super-user OR the operation
            }
        ),
        TENANT_ADMIN: frozenset(
            {
                "namespace.functions", "namespace.sources", "namespace.sinks",  # functions worker
                "topic.lookup",  # partitioned-topic metadata falls back to tenant admin
            }
        ),
    }
)  # fmt: skip

_VIEW: Final = (
    "topic.lookup", "topic.get_stats", "topic.get_metadata", "topic.get_subscriptions",
    "topic.get_backlog_size", "namespace.get_topic", "namespace.get_topics", "namespace.get_bundle",
    "tenant.get_tenant", "tenant.list_namespaces", "namespace_policy.*.read", "topic_policy.*.read",
)  # fmt: skip
_TENANT_ADMIN: Final = (
    "tenant.admin", "tenant.get_tenant", "tenant.list_namespaces", "tenant.create_namespace",
    "tenant.delete_namespace", "namespace.*", "namespace_policy.*", "topic.*", "topic_policy.*",
)  # fmt: skip

# Convenience verbs: each stands for exactly the patterns listed (documented in docs/policy.md).
VERBS: Final = MappingProxyType(
    {
        "produce": ("topic.produce", "topic.lookup"),
        "consume": ("topic.consume", "topic.subscribe", "topic.lookup"),
        "view": _VIEW,
        "tenant-admin": _TENANT_ADMIN,
    }
)


# Intent verbs (`meshgate.policy.operations`): every operation that serves the intent; an allow also
# gets what the intent needs (a topic lookup), a deny does not (it would stop other intents too).
INTENT_ACTIONS: Final = MappingProxyType(
    {
        intent: frozenset(name for name, serves in operations.table() if serves == intent)
        for intent in operations.INTENTS
    }
)


def is_known(action: str) -> bool:
    return action in ACTION_SET


def _glob_matches(pattern: str, action: str) -> bool:
    """`*` stands for one dot-separated part; a trailing `*` for one or more (`topic_policy.*`)."""
    want, have = pattern.split("."), action.split(".")
    if want[-1] == "*" and len(have) > len(want):
        have = [*have[: len(want) - 1], "*"]
    return len(want) == len(have) and all(w in ("*", h) for w, h in zip(want, have, strict=True))


def wildcard_grants(pattern: str) -> frozenset[str]:
    """The grants (`superuser`, `tenant.admin`) that `pattern` matches only through a wildcard or an
    intent (`administer`)."""
    if pattern in INTENT_ACTIONS:
        return INTENT_ACTIONS[pattern] & GRANTS
    if "*" not in pattern:
        return frozenset()
    return frozenset(g for g in GRANTS if _glob_matches(pattern, g))


@cache
def expand_pattern(pattern: str, *, grants: bool = False) -> frozenset[str]:
    """The concrete actions an action pattern or verb stands for; raises PolicyError if none.

    A wildcard stands for `superuser` and `tenant.admin` only with `grants` (deny rules, so that `*`
    denies them as it always did); an allow rule must name them, because holding either skips denies.
    So does an intent: in a deny it stands for every operation that serves it, in an allow also for what
    the intent needs (`operations.NEEDS`), and never for a grant."""
    if pattern in INTENT_ACTIONS:
        if grants:
            return INTENT_ACTIONS[pattern]
        return (INTENT_ACTIONS[pattern] - GRANTS) | frozenset(operations.NEEDS.get(pattern, ()))
    parts = VERBS.get(pattern, (pattern,))
    found = frozenset(
        a
        for part in parts
        for a in ACTIONS
        if _glob_matches(part, a) and (grants or a not in wildcard_grants(part))
    )
    if not found and wildcard_grants(pattern):
        only = " and ".join(sorted(wildcard_grants(pattern)))
        raise PolicyError(f"{pattern!r} matches only {only}, which a wildcard never grants: name it instead")
    if not found:
        raise PolicyError(f"unknown action {pattern!r} (see the action table in docs/policy.md)")
    return found


def expand_patterns(patterns: Iterable[str], *, grants: bool = False) -> frozenset[str]:
    return frozenset().union(*(expand_pattern(p, grants=grants) for p in patterns))
