"""Prometheus metrics. Event metrics (decisions, authentications, RPC latency) are counted as calls
finish; state metrics (caches, policy, bundles, JWKS, serving certificate, audit sinks) are read from the
components at scrape time by `StateCollector`, so they are never stale and cost nothing between scrapes.

Every service instance has its own registry (several can run in one test process).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from meshgate.audit.events import Record
from meshgate.policy.actions import is_known

# Authorization is a hot path: fine buckets below a millisecond, coarse ones up to the shim's deadline.
DecisionLabels = tuple[bool, str, str]  # allowed, action, reason_code
AuthenticationLabels = tuple[str, str, str]  # result, credential_kind, code

LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class EventMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.decisions = Counter(
            "meshgate_decisions", "Authorization decisions.", ["result", "action", "reason_code"],
            registry=registry,
        )  # fmt: skip
        self.authentications = Counter(
            "meshgate_authentications", "Authentication answers.", ["result", "credential_kind", "code"],
            registry=registry,
        )  # fmt: skip
        self.rpcs = Counter("meshgate_rpcs", "Finished RPCs.", ["method", "code"], registry=registry)
        self.shed = Counter(
            "meshgate_rpcs_shed",
            "Calls refused (queue_full: RESOURCE_EXHAUSTED at once) or dropped unanswered (expired: the "
            "deadline passed while queued) before any work.",
            ["method", "reason"], registry=registry,
        )  # fmt: skip
        self.latency = Histogram(
            "meshgate_rpc_duration_seconds", "Server-side RPC latency.", ["method"],
            buckets=LATENCY_BUCKETS, registry=registry,
        )  # fmt: skip
        # Label children, looked up once per label set: `labels()` costs more than the increment itself.
        self._rpc_children: dict[tuple[str, str], tuple[Counter, Histogram]] = {}
        self._decision_children = _LabelledCounter(self.decisions)
        self._authentication_children = _LabelledCounter(self.authentications)
        self._shed_children = _LabelledCounter(self.shed)

    def observe_rpc(self, method: str, code: str, seconds: float) -> None:
        children = self._rpc_children.get((method, code))
        if children is None:
            children = (self.rpcs.labels(method, code), self.latency.labels(method))
            self._rpc_children[method, code] = children
        children[0].inc()
        children[1].observe(seconds)

    def observe_shed(self, method: str, reason: str) -> None:
        self._shed_children.inc((method, reason), 1)

    def observe_decisions(self, counts: Mapping[DecisionLabels, int]) -> None:
        """`counts` of decisions by (allowed, action, reason_code) as they came off the wire."""
        for (allowed, action, reason_code), count in counts.items():
            # Actions come from the wire: any name outside the action table (denied as unknown_action, or
            # allowed to a super-user, who may do anything) shares one label, so cardinality stays bounded.
            labels = ("allow" if allowed else "deny", action if is_known(action) else "unknown", reason_code)
            self._decision_children.inc(labels, count)

    def observe_authentications(self, counts: Mapping[AuthenticationLabels, int]) -> None:
        """`counts` of authentication answers by `authentication_labels` of their records."""
        for labels, count in counts.items():
            self._authentication_children.inc(labels, count)


class _LabelledCounter:
    """A counter's label children, each looked up once: `labels()` costs more than the increment itself."""

    def __init__(self, counter: Counter) -> None:
        self._counter = counter
        self._children: dict[tuple[str, ...], Counter] = {}

    def inc(self, labels: tuple[str, ...], count: int) -> None:
        child = self._children.get(labels)
        if child is None:
            child = self._children[labels] = self._counter.labels(*labels)
        child.inc(count)


def authentication_labels(record: Record) -> AuthenticationLabels:
    """result, credential kind (verified, else presented, else "none") and rejection code of a record."""
    kind = record.get("credential_kind") or record["presented"] or "none"
    return record["result"], kind, record.get("code", "")


Family = GaugeMetricFamily | CounterMetricFamily | InfoMetricFamily


@dataclass(eq=False)
class StateCollector(Collector):
    """Reads state at scrape time through small functions, each yielding metric families."""

    sources: list[Callable[[], Iterator[Family]]] = field(default_factory=list)

    def collect(self) -> Iterator[Family]:
        for source in self.sources:
            yield from source()


def gauge(name: str, doc: str, value: float, labels: dict[str, str] | None = None) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=list(labels or {}))
    family.add_metric(list((labels or {}).values()), value)
    return family


def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


def ratio(hits: int, misses: int) -> float:
    total = hits + misses
    return hits / total if total else 0.0


@dataclass
class ServiceMetrics:
    """The registry an instance exposes on /metrics, its event metrics and its state collector."""

    registry: CollectorRegistry = field(default_factory=lambda: CollectorRegistry(auto_describe=True))
    state: StateCollector = field(default_factory=StateCollector)
    events: EventMetrics = field(init=False)

    def __post_init__(self) -> None:
        self.events = EventMetrics(self.registry)
        self.registry.register(self.state)
