"""Scrape-time metric sources over the components' own status objects (see `metrics.StateCollector`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily

from meshgate.audit.log import AuditLog
from meshgate.clock import Clock
from meshgate.identity import CachedX509Verifier, WatchedTrustBundles
from meshgate.oidc import TokenAuthenticator
from meshgate.policy.reloader import PolicyReloader
from meshgate.server.admission import LoadShedder
from meshgate.server.decision_memo import DecisionMemo
from meshgate.server.metrics import Family, counter, gauge, ratio
from meshgate.server.readiness import Readiness
from meshgate.server.served import SERVED_BY, ServedLog

Source = Callable[[], Iterator[Family]]


def rpc_queues(shedder: LoadShedder) -> Source:
    def collect() -> Iterator[Family]:
        family = GaugeMetricFamily(
            "meshgate_rpc_queue_depth",
            "Calls waiting for a worker, by method (at grpc.queue_per_method, the next is refused).",
            labels=["method"],
        )
        for method, queue in sorted(shedder.queues.items()):
            family.add_metric([method], queue.waiting)
        yield family

    return collect


def x509_cache(cache: CachedX509Verifier) -> Source:
    def collect() -> Iterator[Family]:
        stats = cache.stats()
        yield gauge("meshgate_x509_cache_entries", "Verified certificate chains cached.", stats.size)
        yield counter("meshgate_x509_cache_hits", "Verifications answered from the cache.", stats.hits)
        yield counter("meshgate_x509_cache_misses", "Verifications that ran the verifier.", stats.misses)
        yield gauge(
            "meshgate_x509_cache_hit_ratio", "Hits / lookups since start.", ratio(stats.hits, stats.misses)
        )

    return collect


def token_cache(tokens: TokenAuthenticator) -> Source:
    def collect() -> Iterator[Family]:
        cache = tokens.tokens
        yield gauge("meshgate_token_cache_entries", "Verified tokens cached.", len(cache))
        yield counter("meshgate_token_cache_hits", "Tokens answered from the cache.", cache.hits)
        yield counter("meshgate_token_cache_misses", "Tokens that were validated.", cache.misses)
        yield gauge(
            "meshgate_token_cache_hit_ratio", "Hits / lookups since start.", ratio(cache.hits, cache.misses)
        )

    return collect


def policy(reloader: PolicyReloader) -> Source:
    def collect() -> Iterator[Family]:
        status = reloader.status
        info = InfoMetricFamily("meshgate_policy_revision", "The policy revision serving now.")
        info.add_metric([], {"revision": status.revision or "none", "commit": status.commit or "none"})
        yield info
        success = status.last_success_at.timestamp() if status.last_success_at else 0.0
        yield gauge(
            "meshgate_policy_last_reload_success_timestamp_seconds",
            "When a revision last went live.",
            success,
        )
        yield counter(
            "meshgate_policy_reload_failures", "Policy revisions refused since start.", status.failures
        )
        yield gauge(
            "meshgate_policy_reload_error", "1 while the latest revision is refused.", bool(status.last_error)
        )

    return collect


def decision_memo(memo: DecisionMemo[Any]) -> Source:
    def collect() -> Iterator[Family]:
        hits, misses = memo.hits, memo.misses
        entries = memo.entries
        yield gauge("meshgate_decision_memo_entries", "Decisions memoized for the current revision.", entries)
        yield counter("meshgate_decision_memo_hits", "Decisions answered from the memo.", hits)
        yield counter("meshgate_decision_memo_misses", "Decisions the policy evaluated.", misses)
        yield gauge("meshgate_decision_memo_hit_ratio", "Hits / lookups since start.", ratio(hits, misses))

    return collect


def trust_bundles(bundles: WatchedTrustBundles, clock: Clock) -> Source:
    def collect() -> Iterator[Family]:
        status = bundles.status
        age = _age(clock, status.last_success)
        yield gauge("meshgate_trust_bundle_age_seconds", "Since the trust bundles last loaded cleanly.", age)
        yield gauge(
            "meshgate_trust_bundle_load_error", "1 while the last reload failed.", bool(status.last_error)
        )

    return collect


def jwks(tokens: TokenAuthenticator, issuers: Sequence[str]) -> Source:
    def collect() -> Iterator[Family]:
        age = GaugeMetricFamily(
            "meshgate_jwks_age_seconds", "Since the last good JWKS fetch.", labels=["issuer"]
        )
        usable = GaugeMetricFamily(
            "meshgate_jwks_usable", "1 while the issuer's keys are used.", labels=["issuer"]
        )
        for issuer in issuers:
            snapshot = tokens.keys.snapshot(issuer)
            age.add_metric(
                [issuer], snapshot.age_seconds if snapshot.age_seconds is not None else float("inf")
            )
            usable.add_metric([issuer], float(snapshot.usable))
        yield age
        yield usable

    return collect


def serving_cert(not_after: Callable[[], datetime | None]) -> Source:
    def collect() -> Iterator[Family]:
        expiry = not_after()
        if expiry is not None:
            doc = "notAfter of the gRPC serving certificate in use."
            yield gauge("meshgate_serving_cert_expiry_timestamp_seconds", doc, expiry.timestamp())

    return collect


def audit(log: AuditLog) -> Source:
    def collect() -> Iterator[Family]:
        backlog = GaugeMetricFamily("meshgate_audit_backlog", "Records queued per sink.", labels=["sink"])
        written = CounterMetricFamily("meshgate_audit_records_written", "Records written.", labels=["sink"])
        dropped = CounterMetricFamily(
            "meshgate_audit_records_dropped", "Lost to a full queue.", labels=["sink"]
        )
        failed = CounterMetricFamily("meshgate_audit_write_failures", "Batches not written.", labels=["sink"])
        for stats in log.stats():
            backlog.add_metric([stats.name], stats.backlog)
            written.add_metric([stats.name], stats.written)
            dropped.add_metric([stats.name], stats.dropped)
            failed.add_metric([stats.name], stats.failed)
        yield from (backlog, written, dropped, failed)
        yield counter("meshgate_audit_sampled_out", "Allows left out by sampling.", log.sampled_out)

    return collect


def served(log: ServedLog) -> Source:
    """What broker plugins reported they served without asking (`ReportServed`), and what was lost."""

    def collect() -> Iterator[Family]:
        stats = log.stats()
        reported = CounterMetricFamily(
            "meshgate_audit_served_reported",
            "Answers broker plugins served without asking and reported for the audit log, by served_by.",
            labels=["served_by"],
        )
        for way in SERVED_BY:
            reported.add_metric([way], stats.reported.get(way, 0))
        yield reported
        dropped = CounterMetricFamily(
            "meshgate_audit_served_dropped",
            "Served answers lost before the audit log: where=shim, the plugins could not report them (buffer "
            "full, failed report); where=service, in reports refused as malformed.",
            labels=["where"],
        )
        dropped.add_metric(["shim"], stats.dropped_by_shims)
        dropped.add_metric(["service"], stats.refused)
        yield dropped

    return collect


def readiness(evaluate: Callable[[], Readiness]) -> Source:
    def collect() -> Iterator[Family]:
        yield gauge("meshgate_ready", "1 when /readyz and gRPC health say ready.", float(evaluate().ready))

    return collect


def _age(clock: Clock, since: datetime | None) -> float:
    return (clock.now() - since).total_seconds() if since else float("inf")
