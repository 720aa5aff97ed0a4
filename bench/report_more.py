"""Report sections for the parts that run processes (gRPC, broker, propagation, memory)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench import plots
from bench.report import ms, provenance, rate, table, verdict


def _lat(point: dict[str, Any], q: str) -> str:
    return ms(point["latency"][q]) if point.get("latency") else "-"


def _sat(points: list[dict[str, Any]], concurrency: int) -> dict[str, Any]:
    return next(p for p in points if p["concurrency"] == concurrency and not p["offered_rps"])


def grpc(data: dict[str, Any], goals: list[list[str]]) -> str:
    r = data["result"]
    runs: dict[str, list[dict[str, Any]]] = r["runs"]
    rows = []
    for name, points in runs.items():
        for p in points:
            rows.append(
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
            )
    head = [
        "server/transport",
        "concurrency",
        "offered /s",
        "achieved /s",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "errors",
    ]
    for transport in ("tcp", "uds"):
        m, c = runs.get(f"meshgate/{transport}"), runs.get(f"cerbos/{transport}")
        if not (m and c):
            continue
        ms32, cs32 = _sat(m, 32), _sat(c, 32)
        ratio = ms32["rps"] / cs32["rps"]
        ok = ratio >= 1.5 and ms32["latency"]["p99"] <= cs32["latency"]["p99"]
        goals.append(
            [
                f"gRPC {transport.upper()}: ≥ 1.5× Cerbos throughput at equal or better p99 (c=32)",
                f"{ratio:.2f}× ({rate(ms32['rps'])} vs {rate(cs32['rps'])}/s; p99 {_lat(ms32, 'p99')} vs "
                f"{_lat(cs32, 'p99')} ms)",
                verdict(ok),
            ]
        )
    batch = r.get("batch", [])
    if batch:
        best = max(batch, key=lambda p: p["decisions_per_s"])
        goals.append(
            [
                "AuthorizeBatch ≥ 50k decisions/s",
                f"{rate(best['decisions_per_s'])}/s ({best['transport']}, c={best['concurrency']})",
                verdict(best["decisions_per_s"] >= 50_000),
            ]
        )
    batch_rows = [
        [
            p["transport"],
            str(p["concurrency"]),
            rate(p["rps"]),
            rate(p["decisions_per_s"]),
            _lat(p, "p50"),
            _lat(p, "p99"),
            _lat(p, "p999"),
        ]
        for p in batch
    ]
    curves = {
        name: [
            (p["rps"], p["latency"]["p99"] * 1e3) for p in pts if p["concurrency"] == 32 and p.get("latency")
        ]
        for name, pts in runs.items()
    }
    for pts in curves.values():
        pts.sort()
    plot = plots.grpc_latency(curves, "grpc.png", "Authorize vs Cerbos CheckResources (c=32, one server CPU)")
    large = r.get("large_policy")
    large_text = ""
    if large:
        s, b = large["single_c32"], large["batch_c4"]
        large_text = (
            f"\nWith the generated **100,000-rule** policy (TCP): Authorize at c=32 {rate(s['rps'])}/s, p50 "
            f"{_lat(s, 'p50')} ms, p99 {_lat(s, 'p99')} ms; AuthorizeBatch (100 different requests) at c=4 "
            f"{rate(b['decisions_per_s'])} decisions/s, p99 {_lat(b, 'p99')} ms. Start-up to serving: "
            f"{large['startup_s']:.0f} s.\n"
        )
    return (
        "## 2. Service over gRPC, against Cerbos\n\n"
        + provenance(data)
        + "\n"
        + "Load generator: **ghz v0.93.0** (Go; installed at run time with `go install`), pinned to CPU 0 "
        "with `taskset` and `GOMAXPROCS=1`, one HTTP/2 connection. Each server runs alone, pinned to CPU 1: "
        "`meshgate serve` (the real service, all interceptors, the two-rule policy below), **Cerbos "
        f"{r['_versions']['cerbos']}** (`@cerbos/cerbos-linux-x64` from npm; disk storage, audit and "
        "telemetry off) with the equivalent resource policy, and `python-echo` (bench/echo_server.py: a bare "
        "grpc.aio server answering Authorize with a constant, the ceiling of any one-process Python gRPC "
        "service here). Equivalent policy: writers may produce, readers consume topics of acme/payments; "
        "meshgate matches the SPIFFE ID, Cerbos the `writer` role the request carries. Every call is an "
        "allowed `topic.produce`; Cerbos's answer is checked once over its HTTP API. "
        f"{r['seconds_per_point']:.0f} s per point after a 1 s warm-up; 'errors' excludes the ≤ concurrency calls "
        "ghz cancels when the time is up.\n\n"
        + table(head, rows)
        + f"\n![grpc]({plot})\n\n"
        + f"AuthorizeBatch, {100} allowed requests per call (meshgate, two-rule policy):\n\n"
        + table(
            ["transport", "concurrency", "calls/s", "decisions/s", "p50 ms", "p99 ms", "p99.9 ms"], batch_rows
        )
        + large_text
    )


SECTIONS: list[tuple[str, str, Callable[[dict[str, Any], list[list[str]]], str]]] = [
    ("grpc", "2. Service over gRPC, against Cerbos", grpc),
]
