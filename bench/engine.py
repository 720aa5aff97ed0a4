"""Part 1: the policy engine in process: load/compile time and decision latency/throughput by size.

"warm": 64 distinct requests cycled, so the touched index entries and objects stay in CPU caches.
"cold": every request distinct (fresh objects, random tenants/namespaces/workloads across the whole
policy), so each decision walks a different part of the index, as a broker serving many clients would.
"""

from __future__ import annotations

import gc
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from meshgate.model import AccessRequest
from meshgate.policy.engine import PolicySnapshot
from meshgate.policy.loader import compile_source, read_source

from bench.policygen import request_pool, write_policy
from bench.stats import median, summary

SIZES = (100, 1_000, 10_000, 100_000)


def timed_calls(decide: Callable[[AccessRequest], object], requests: Sequence[AccessRequest]) -> list[float]:
    """Seconds per call, one perf_counter_ns pair around each (≈60 ns of the figure is the clock)."""
    clock = time.perf_counter_ns
    out = [0.0] * len(requests)
    for i, req in enumerate(requests):
        start = clock()
        decide(req)
        out[i] = (clock() - start) / 1e9
    return out


def throughput(decide: Callable[[AccessRequest], object], requests: Sequence[AccessRequest]) -> float:
    start = time.perf_counter()
    for req in requests:
        decide(req)
    return len(requests) / (time.perf_counter() - start)


def measure_load(path: Path, repeats: int) -> tuple[PolicySnapshot, dict[str, float]]:
    reads, compiles = [], []
    snapshot = None
    for _ in range(repeats):
        began = time.perf_counter()
        source = read_source(path)
        read_done = time.perf_counter()
        snapshot = compile_source(source)
        reads.append(read_done - began)
        compiles.append(time.perf_counter() - read_done)
    assert snapshot is not None
    return snapshot, {"read_s": median(reads), "compile_s": median(compiles), "repeats": repeats}


def measure_mix(snapshot: PolicySnapshot, requests: list[AccessRequest], rounds: int) -> dict[str, Any]:
    """Median over `rounds` of the per-call percentiles and of the bulk throughput."""
    runs = []
    for _ in range(rounds):
        lat = summary(timed_calls(snapshot.decide, requests))
        lat["throughput"] = throughput(snapshot.decide, requests)
        runs.append(lat)
    return {key: median([r[key] for r in runs]) for key in runs[0]} | {"rounds": rounds}


def run_size(n_rules: int, quick: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="meshgate-bench-policy-") as tmp:
        generated = write_policy(Path(tmp) / "policy", n_rules)
        snapshot, load = measure_load(generated.path, 1 if n_rules >= 10_000 else 3)
    cold_n = 20_000 if quick else 100_000
    pool = request_pool(cold_n, generated.tenants, seed=n_rules)
    warm = [req for _, req in pool[:64]] * (cold_n // 64)
    cold = [req for _, req in pool]
    reasons: dict[str, int] = {}
    for req in cold:
        code = snapshot.decide(req).reason_code
        reasons[code] = reasons.get(code, 0) + 1
    fresh = [req for _, req in request_pool(cold_n, generated.tenants, seed=n_rules + 1)]
    gc.collect()
    rounds = 3 if quick else 5
    result = {
        "rules": n_rules,
        "tenants": generated.tenants,
        "index_entries": sum(1 for _ in _entries(snapshot)),
        "load": load,
        "warm": measure_mix(snapshot, warm, rounds),
        "cold": measure_mix(snapshot, fresh, 1) | {"first_pass": True},
        "cold_repeat": measure_mix(snapshot, cold, rounds),
        "reasons": reasons,
    }
    return result


def _entries(snapshot: PolicySnapshot) -> list[object]:
    return [(r, s, res) for r in snapshot.rules for s in r.subjects for res in r.resources]


def run(quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    sizes = []
    for n in SIZES:
        log(f"engine: {n:,} rules")
        sizes.append(run_size(n, quick))
        w, c = sizes[-1]["warm"], sizes[-1]["cold"]
        log(
            f"  load {sizes[-1]['load']['read_s'] + sizes[-1]['load']['compile_s']:.2f} s; warm p50 "
            f"{w['p50'] * 1e6:.1f} µs p99 {w['p99'] * 1e6:.1f} µs; cold p50 {c['p50'] * 1e6:.1f} µs "
            f"p99 {c['p99'] * 1e6:.1f} µs; {w['throughput']:,.0f}/s warm"
        )
    return {"sizes": sizes}
