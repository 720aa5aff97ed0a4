"""Section 1: the policy engine in process (`bench/engine.py`)."""

from __future__ import annotations

from typing import Any

from bench import plots
from bench.report.common import Goals, provenance, rate, table, us, verdict

PART, TITLE = "engine", "1. Policy engine in process"


HEAD = [
    "rules",
    "tenants",
    "load+compile s",
    "µs/rule",
    "warm p50 µs",
    "warm p99 µs",
    "warm /s",
    "cold p50 µs",
    "cold p99 µs",
    "cold p99.9 µs",
    "cold² p50 µs",
    "cold² p99 µs",
    "cold² /s",
]


def _row(s: dict[str, Any]) -> list[str]:
    w, c, r = s["warm"], s["cold"], s["cold_repeat"]
    load_s = s["load"]["read_s"] + s["load"]["compile_s"]
    return [
        f"{s['rules']:,}",
        f"{s['tenants']:,}",
        f"{load_s:,.2f}",
        f"{load_s / s['rules'] * 1e6:,.0f}",
        us(w["p50"]),
        us(w["p99"]),
        rate(w["throughput"]),
        us(c["p50"]),
        us(c["p99"]),
        us(c["p999"]),
        us(r["p50"]),
        us(r["p99"]),
        rate(r["throughput"]),
    ]


def section(data: dict[str, Any], goals: Goals) -> str:
    sizes = data["result"]["sizes"]
    rows = [_row(s) for s in sizes]
    first, last = sizes[0], sizes[-1]
    growth = max(last[m]["p50"] / first[m]["p50"] for m in ("warm", "cold"))
    top = f"{last['rules']:,}"
    goals += [
        [
            f"engine p50 ≤ 20 µs at {top} rules (cold)",
            f"{us(last['cold']['p50'])} µs",
            verdict(last["cold"]["p50"] <= 20e-6),
        ],
        [
            f"engine p99 ≤ 100 µs at {top} rules (cold)",
            f"{us(last['cold']['p99'])} µs",
            verdict(last["cold"]["p99"] <= 100e-6),
        ],
        [f"engine cost growth {first['rules']:,}→{top} ≤ 2× (p50)", f"{growth:.2f}×", verdict(growth <= 2)],
    ]
    plot = plots.engine(sizes)
    reasons = ", ".join(f"{k} {v:,}" for k, v in sorted(last["reasons"].items()))
    return (
        f"## {TITLE}\n\n"
        + provenance(data)
        + "\n"
        + "`PolicySnapshot.decide` on generated policies (`bench/policygen.py`: per tenant one file with an OIDC "
        "tenant-admin rule and ten namespaces of ten rules: exact SPIFFE writers/readers on topic globs, "
        "subscription-narrowed readers, an explicit deny, a Linkerd suffix subject and a SPIFFE pattern "
        "subject; plus global capture rules). Requests follow a broker-like mix (produce 30 %, lookup 20 %, "
        "consume 20 %, the rest views, denies, patterns, OIDC, captures, non-matching). **warm**: 64 "
        "requests cycled; **cold**: every request new and random over the whole policy (first pass); "
        "**cold²**: the same large pool a second time. Latency: one `perf_counter_ns` pair per call; /s: "
        "an untimed loop, one thread. Medians over rounds.\n\n"
        + table(HEAD, rows)
        + f"\nDecisions at {top} rules (cold pool): {reasons}.\n\n"
        + f"![engine]({plot})\n"
    )
