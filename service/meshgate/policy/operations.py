"""Every operation Pulsar (4.0, 4.2) asks the authorization plugin about, and the intent each serves.

This is the one table the action names (`meshgate.policy.actions`) and the intent verbs are generated
from. A row is an operation of one family and the intent it serves:

- `read-messages`: the operation hands message content to the caller (consume, a reader, subscribe,
  peek, examine a message, get a message by id);
- `write-messages`: it puts messages on a topic (produce, a producer's schema registration);
- `inspect`: it reads metadata, stats, configuration or permissions, never message content;
- `configure`: it changes a policy, configuration or metadata;
- `administer`: it changes what exists or who may do what (create, delete, unload, compact, offload,
  truncate, skip, reset, grant), runs code (functions, sources, sinks), or is a grant Pulsar checks first.

Some operations also serve another intent without being part of it (`NEEDS`): a reader and a writer both
look the topic up. An allow of an intent includes what it needs; a deny of it does not, because a deny of
`read-messages` must not stop writers looking the topic up.

`tests/conformance/pulsar_names/test_pulsar_operations.py` checks this table against the broker's own
enums (TopicOperation, NamespaceOperation, TenantOperation, PolicyName, PolicyOperation, BrokerOperation,
ClusterOperation), so an operation a new Pulsar adds cannot go unclassified.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

READ: Final = "read-messages"
WRITE: Final = "write-messages"
INSPECT: Final = "inspect"
CONFIGURE: Final = "configure"
ADMINISTER: Final = "administer"
INTENTS: Final = (READ, WRITE, INSPECT, CONFIGURE, ADMINISTER)

# TopicOperation, in the enum's order. PEEK_MESSAGES is what Pulsar asks to peek, to examine a message and
# to get one by id; a reader asks CONSUME; a binary GetSchema is asked as LOOKUP by the broker shim.
TOPIC: Final = (
    ("lookup", INSPECT), ("produce", WRITE), ("consume", READ), ("compact", ADMINISTER),
    ("expire_messages", ADMINISTER), ("offload", ADMINISTER), ("peek_messages", READ),
    ("reset_cursor", ADMINISTER), ("skip", ADMINISTER), ("terminate", ADMINISTER), ("unload", ADMINISTER),
    ("grant_permission", ADMINISTER), ("get_permission", INSPECT), ("revoke_permission", ADMINISTER),
    ("add_bundle_range", ADMINISTER), ("get_bundle_range", INSPECT), ("delete_bundle_range", ADMINISTER),
    ("subscribe", READ), ("get_subscriptions", INSPECT), ("unsubscribe", ADMINISTER),
    ("get_stats", INSPECT), ("get_metadata", INSPECT), ("delete_metadata", CONFIGURE),
    ("update_metadata", CONFIGURE), ("get_backlog_size", INSPECT),
    ("set_replicated_subscription_status", CONFIGURE), ("get_replicated_subscription_status", INSPECT),
    ("trim_topic", ADMINISTER),
)  # fmt: skip
# NamespaceOperation, then the plugin's allowFunctionOps / allowSourceOps / allowSinkOps (code that runs
# with the function worker's own role: administer, whatever topics it reads or writes).
NAMESPACE: Final = (
    ("create_topic", ADMINISTER), ("get_topic", INSPECT), ("get_topics", INSPECT),
    ("delete_topic", ADMINISTER), ("add_bundle", ADMINISTER), ("delete_bundle", ADMINISTER),
    ("get_bundle", INSPECT), ("get_permission", INSPECT), ("grant_permission", ADMINISTER),
    ("revoke_permission", ADMINISTER), ("clear_backlog", ADMINISTER), ("unsubscribe", ADMINISTER),
    ("packages", ADMINISTER), ("trim_topic", ADMINISTER),
    ("functions", ADMINISTER), ("sources", ADMINISTER), ("sinks", ADMINISTER),
)  # fmt: skip
# TenantOperation, then the plugin's isTenantAdmin.
TENANT: Final = (
    ("create_namespace", ADMINISTER), ("delete_namespace", ADMINISTER), ("list_namespaces", INSPECT),
    ("list_tenants", INSPECT), ("get_tenant", INSPECT), ("create_tenant", ADMINISTER),
    ("update_tenant", ADMINISTER), ("delete_tenant", ADMINISTER), ("admin", ADMINISTER),
)  # fmt: skip
# PolicyOperation: every PolicyName is read or written, for namespaces, topics and clusters alike.
POLICY: Final = (("read", INSPECT), ("write", CONFIGURE))
POLICY_NAMES: Final = (
    "all", "anti_affinity", "auto_subscription_creation", "auto_topic_creation", "backlog", "compaction",
    "delayed_delivery", "inactive_topic", "deduplication", "max_consumers", "max_producers",
    "deduplication_snapshot", "max_unacked", "max_subscriptions", "offload", "partition", "persistence",
    "rate", "retention", "replication", "replication_rate", "schema_compatibility_strategy",
    "subscription_auth_mode", "subscription_expiration_time", "encryption", "ttl", "max_topics",
    "resourcegroup", "entry_filters", "shadow_topic", "dispatcher_pause_on_ack_state_persistent",
    "allow_clusters", "cluster_migration", "namespace_isolation", "allow_custom_metric_labels",
)  # fmt: skip
BROKER: Final = (
    ("list_brokers", INSPECT), ("get_broker", INSPECT), ("get_leader_broker", INSPECT),
    ("list_owned_namespaces", INSPECT), ("list_dynamic_configurations", INSPECT),
    ("update_dynamic_configuration", CONFIGURE), ("delete_dynamic_configuration", CONFIGURE),
    ("list_runtime_configurations", INSPECT), ("get_internal_configuration_data", INSPECT),
    ("check_backlog_quota", INSPECT), ("health_check", INSPECT), ("shutdown", ADMINISTER),
)  # fmt: skip
CLUSTER: Final = (
    ("list_clusters", INSPECT), ("get_cluster", INSPECT), ("create_cluster", ADMINISTER),
    ("update_cluster", CONFIGURE), ("delete_cluster", ADMINISTER), ("get_peer_cluster", INSPECT),
    ("update_peer_cluster", CONFIGURE), ("get_failure_domain", INSPECT),
    ("update_failure_domain", CONFIGURE), ("delete_failure_domain", CONFIGURE),
)  # fmt: skip
# The plugin's isSuperUser.
SUPERUSER_INTENT: Final = ADMINISTER

# Operations an allow of an intent includes because the intent cannot be done without them.
NEEDS: Final = MappingProxyType({READ: ("topic.lookup",), WRITE: ("topic.lookup",)})


def _policy_rows(prefix: str) -> list[tuple[str, str]]:
    return [(f"{prefix}.{name}.{op}", intent) for name in POLICY_NAMES for op, intent in POLICY]


def table() -> tuple[tuple[str, str], ...]:
    """(action name, intent) for every action, in the action table's order."""
    rows = [(f"topic.{op}", intent) for op, intent in TOPIC]
    rows += [(f"namespace.{op}", intent) for op, intent in NAMESPACE]
    rows += [(f"tenant.{op}", intent) for op, intent in TENANT]
    rows += _policy_rows("namespace_policy") + _policy_rows("topic_policy")
    rows += [(f"broker.{op}", intent) for op, intent in BROKER]
    rows += [(f"cluster.{op}", intent) for op, intent in CLUSTER]
    rows += _policy_rows("cluster_policy")
    rows.append(("superuser", SUPERUSER_INTENT))
    return tuple(rows)
