"""Scrape-time metrics read the components' own counters: the token cache's hits and misses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from meshgate.clock import FixedClock
from meshgate.model import CredentialKind, Identity
from meshgate.oidc.token_cache import TokenCache
from meshgate.policy.reloader import ReloadStatus
from meshgate.server import state_metrics as sm
from meshgate.server.metrics import ServiceMetrics
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _scrape(metrics: ServiceMetrics) -> dict[str, float]:
    text = generate_latest(metrics.registry).decode()
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}


def test_token_cache_hits_misses_and_ratio() -> None:
    cache = TokenCache(10, 60, FixedClock(NOW))
    cache.put("t1", Identity("p", CredentialKind.OIDC, expires_at=NOW + timedelta(hours=1)))
    for token in ("t1", "t1", "t1", "t2"):
        cache.get(token)
    metrics = ServiceMetrics()
    tokens: Any = SimpleNamespace(tokens=cache)
    metrics.state.sources.append(sm.token_cache(tokens))
    samples = _scrape(metrics)
    assert samples["meshgate_token_cache_entries"] == 1
    assert (samples["meshgate_token_cache_hits_total"], samples["meshgate_token_cache_misses_total"]) == (
        3,
        1,
    )
    assert samples["meshgate_token_cache_hit_ratio"] == 0.75


def test_the_policy_revision_info_labels_revision_and_commit() -> None:
    metrics = ServiceMetrics()
    reloader: Any = SimpleNamespace(status=ReloadStatus(revision="sha256:ab", commit="3cc4291"))
    metrics.state.sources.append(sm.policy(reloader))
    text = generate_latest(metrics.registry).decode()
    assert 'meshgate_policy_revision_info{commit="3cc4291",revision="sha256:ab"} 1.0' in text
