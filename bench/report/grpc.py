"""Section 2: the service over gRPC, against Cerbos (`bench/grpc.py`, `bench/grpcload.py`)."""

from __future__ import annotations

from typing import Any

from bench import plots
from bench.report.common import Goals, ms, provenance, rate, table, verdict

PART, TITLE = "grpc", "2. Service over gRPC, against Cerbos"
RUN_HEAD = [
    "server/transport",
    "concurrency",
    "offered /s",
    "achieved /s",
    "p50 ms",
    "p99 ms",
    "p99.9 ms",
    "errors",
]
BATCH_HEAD = [
    "questions",
    "transport",
    "concurrency",
    "calls/s",
    "decisions/s",
    "p50 ms",
    "p99 ms",
    "p99.9 ms",
    "memo hits",
]


def _lat(point: dict[str, Any], q: str) -> str:
    return ms(point["latency"][q]) if point.get("latency") else "-"


def _sat(points: list[dict[str, Any]], concurrency: int) -> dict[str, Any]:
    return next(p for p in points if p["concurrency"] == concurrency and not p["offered_rps"])


def _hits(point: dict[str, Any]) -> str:
    ratio = point.get("memo_hit_ratio")
    return "-" if ratio is None else f"{ratio:.1%}"


def _run_rows(runs: dict[str, list[dict[str, Any]]]) -> list[list[str]]:
    return [
        [
            name,
            str(p["concurrency"]),
            rate(p["offered_rps"]) if p["offered_rps"] else "max",
            rate(p["rps"]),
            _lat(p, "p50"),
            _lat(p, "p99"),
            _lat(p, "p999"),
            str(p["errors_beyond_cutoff"]),
        ]
        for name, points in runs.items()
        for p in points
    ]


def _against_cerbos(runs: dict[str, list[dict[str, Any]]], goals: Goals) -> None:
    for transport in ("tcp", "uds"):
        m, c = runs.get(f"meshgate/{transport}"), runs.get(f"cerbos/{transport}")
        if not (m and c):
            continue
        ms32, cs32 = _sat(m, 32), _sat(c, 32)
        ratio = ms32["rps"] / cs32["rps"]
        ok = ratio >= 1.5 and ms32["latency"]["p99"] <= cs32["latency"]["p99"]
        echo = runs.get(f"python-echo/{transport}")
        ceiling = f"; a bare Python echo: {_sat(echo, 32)['rps'] / cs32['rps']:.2f}×" if echo else ""
        goals.append(
            [
                f"gRPC {transport.upper()}: ≥ 1.5× Cerbos throughput at equal or better p99 (c=32)",
                f"{ratio:.2f}× ({rate(ms32['rps'])} vs {rate(cs32['rps'])}/s; p99 {_lat(ms32, 'p99')} vs "
                f"{_lat(cs32, 'p99')} ms{ceiling})",
                verdict(ok),
            ]
        )


def _batch_goal(batch: list[dict[str, Any]], goals: Goals) -> None:
    """Judged on distinct questions (memo misses); repeated questions are shown beside."""
    by_variant = {
        v: max((p for p in batch if p.get("variant", "repeated") == v), key=lambda p: p["decisions_per_s"])
        for v in ("repeated", "distinct")
        if any(p.get("variant", "repeated") == v for p in batch)
    }
    judged = by_variant.get("distinct")
    rep = by_variant["repeated"]
    rep_text = (
        f"repeated questions (memo hits): {rate(rep['decisions_per_s'])}/s "
        f"({rep['transport']}, c={rep['concurrency']})"
    )
    goals.append(
        [
            "AuthorizeBatch ≥ 50k decisions/s (judged on distinct questions: memo misses)",
            f"{rate(judged['decisions_per_s'])}/s distinct ({judged['transport']}, c={judged['concurrency']}, "
            f"memo hits {_hits(judged)}); {rep_text}"
            if judged
            else f"not measured on distinct questions; {rep_text}",
            verdict(judged is not None and judged["decisions_per_s"] >= 50_000),
        ]
    )


def _batch_rows(batch: list[dict[str, Any]]) -> list[list[str]]:
    return [
        [
            p.get("variant", "repeated"),
            p["transport"],
            str(p["concurrency"]),
            rate(p["rps"]),
            rate(p["decisions_per_s"]),
            _lat(p, "p50"),
            _lat(p, "p99"),
            _lat(p, "p999"),
            _hits(p),
        ]
        for p in batch
    ]


def _plot(runs: dict[str, list[dict[str, Any]]]) -> str:
    curves = {
        name: [
            (p["rps"], p["latency"]["p99"] * 1e3) for p in pts if p["concurrency"] == 32 and p.get("latency")
        ]
        for name, pts in runs.items()
    }
    for pts in curves.values():
        pts.sort()
    return plots.grpc_latency(curves, "grpc.png", "Authorize vs Cerbos CheckResources (c=32, one server CPU)")


def _large_policy(large: dict[str, Any] | None) -> str:
    if not large:
        return ""
    s, b = large["single_c32"], large["batch_c4"]
    fresh = large.get("batch_c4_distinct")
    fresh_text = (
        f"; on distinct questions ({large['batch_distinct_requests']:,} different requests of the same mix, "
        f"none asked before, memo hits {_hits(fresh)}) {rate(fresh['decisions_per_s'])} decisions/s, p99 "
        f"{_lat(fresh, 'p99')} ms"
        if fresh
        else ""
    )
    return (
        f"\nWith the generated **100,000-rule** policy (TCP): Authorize at c=32 {rate(s['rps'])}/s, p50 "
        f"{_lat(s, 'p50')} ms, p99 {_lat(s, 'p99')} ms; AuthorizeBatch at c=4 on repeated questions (the "
        f"same 100 different requests every call, memo hits {_hits(b)}) {rate(b['decisions_per_s'])} "
        f"decisions/s, p99 {_lat(b, 'p99')} ms{fresh_text}. Start-up to serving: {large['startup_s']:.0f} s.\n"
    )


def _setup(r: dict[str, Any]) -> str:
    return (
        "Load generator: **ghz v0.93.0** (Go; installed at run time with `go install`), pinned to CPU 0 "
        "with `taskset` and `GOMAXPROCS=1`, one HTTP/2 connection. Each server runs alone, pinned to CPU 1: "
        "`meshgate serve` (the real service, all interceptors, the two-rule policy below), **Cerbos "
        f"{r['_versions']['cerbos']}** (`@cerbos/cerbos-linux-x64` from npm; disk storage, audit and "
        "telemetry off) with the equivalent resource policy, and `python-echo` (bench/echo_server.py: a bare "
        "grpc server with a thread pool, the serving model of `meshgate serve`, answering Authorize with a "
        "constant: the ceiling of any one-process Python gRPC service here) and `python-echo-aio` (the same "
        "on grpc.aio, the model meshgate used before). Equivalent policy: writers may produce, readers consume topics of acme/payments; "
        "meshgate matches the SPIFFE ID, Cerbos the `writer` role the request carries. Every call is an "
        "allowed `topic.produce`; Cerbos's answer is checked once over its HTTP API. "
        f"{r['seconds_per_point']:.0f} s per point after a 1 s warm-up; 'errors' excludes the ≤ concurrency calls "
        "ghz cancels when the time is up.\n\n"
    )


def _batch_setup(variants: dict[str, Any]) -> str:
    distinct_n = variants.get("distinct", {}).get("distinct_requests", 0)
    return (
        "AuthorizeBatch, 100 allowed requests per call (meshgate, two-rule policy, writer producing on "
        "acme/payments topics). meshgate memoizes decisions per policy revision (LRU, "
        f"{variants.get('memo_entries', 16384):,} entries), so two variants: **repeated questions** sends the "
        "same message (100 different requests) every call, and after the first call every decision is a memo "
        "hit; **distinct questions** has ghz cycle round-robin through "
        f"{variants.get('distinct', {}).get('messages', 0)} messages holding {distinct_n:,} different requests "
        "(topics `t-<n>`), more than the memo holds, and every ghz run (warm-up included) gets its own requests, never asked before of that server: nearly every decision is "
        "evaluated by the policy. 'memo hits' is the server's own count over the point (`/metrics`). The goal "
        "is judged on distinct questions.\n\n"
    )


def section(data: dict[str, Any], goals: Goals) -> str:
    r = data["result"]
    runs: dict[str, list[dict[str, Any]]] = r["runs"]
    rows = _run_rows(runs)
    _against_cerbos(runs, goals)
    batch = r.get("batch", [])
    if batch:
        _batch_goal(batch, goals)
    batch_rows = _batch_rows(batch)
    plot = _plot(runs)
    large = _large_policy(r.get("large_policy"))
    return (
        f"## {TITLE}\n\n"
        + provenance(data)
        + "\n"
        + _setup(r)
        + table(RUN_HEAD, rows)
        + f"\n![grpc]({plot})\n\n"
        + _batch_setup(r.get("batch_variants", {}))
        + table(BATCH_HEAD, batch_rows)
        + large
    )
