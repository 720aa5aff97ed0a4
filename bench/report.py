"""BENCHMARKS.md from bench/results/*.json, plus the plots it references. Hand-written analysis lives in
bench/findings.md and is included verbatim."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import plots
from bench.env import RESULTS, ROOT

OUT = ROOT / "BENCHMARKS.md"
FINDINGS = ROOT / "bench" / "findings.md"
NOT_RUN = "_not run in the recorded results (run `python -m bench --only {part}`)._\n"


def us(x: float) -> str:
    return f"{x * 1e6:,.1f}"


def ms(x: float) -> str:
    return f"{x * 1e3:,.2f}"


def rate(x: float) -> str:
    return f"{x:,.0f}"


def table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "**missed**")


def load(part: str) -> dict[str, Any] | None:
    path = RESULTS / f"{part}.json"
    return json.loads(path.read_text()) if path.exists() else None


def provenance(data: dict[str, Any]) -> str:
    m, v = data["machine"], data["versions"]
    before = data.get("load_before") or m["load"]
    extra = ", ".join(f"{k} {val}" for k, val in data["result"].get("_versions", {}).items())
    return (
        f"_Run {m['date']}{' (--quick)' if data['quick'] else ''}, {data['seconds']:.0f} s; {m['nproc']} CPUs "
        f"({m['cpu']}), {m['memory_gib']} GiB; load average before {before[0]:.2f}/{before[1]:.2f}/"
        f"{before[2]:.2f}, after {m['load'][0]:.2f}; Python {v['python']}, grpcio {v['grpcio']}"
        f"{', ' + extra if extra else ''}._\n"
    )


# --- part 1 -------------------------------------------------------------------------------------------


def engine(data: dict[str, Any], goals: list[list[str]]) -> str:
    sizes = data["result"]["sizes"]
    rows = []
    for s in sizes:
        w, c, r = s["warm"], s["cold"], s["cold_repeat"]
        load_s = s["load"]["read_s"] + s["load"]["compile_s"]
        rows.append(
            [
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
        )
    head = [
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
        "## 1. Policy engine in process\n\n"
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
        + table(head, rows)
        + f"\nDecisions at {top} rules (cold pool): {reasons}.\n\n"
        + f"![engine]({plot})\n"
    )


# --- part 3 -------------------------------------------------------------------------------------------

_CRED_ROWS = [
    ("x509", "first_sight", "X.509 chain, first sight (verifier)"),
    ("x509", "first_sight_via_cache", "X.509 chain, first sight through the cache"),
    ("x509", "cached", "X.509 chain, cached"),
    ("tokens", "first_sight_RS256", "JWT RS256, first sight"),
    ("tokens", "first_sight_ES256", "JWT ES256, first sight"),
    ("tokens", "first_sight_EdDSA", "JWT EdDSA, first sight"),
    ("tokens", "authenticator_first_sight_RS256", "JWT RS256, first sight through TokenAuthenticator"),
    ("tokens", "authenticator_cached", "JWT, cached (TokenAuthenticator)"),
]


def credentials(data: dict[str, Any], goals: list[list[str]]) -> str:
    r = data["result"]
    rows, bars = [], []
    for group, key, label in _CRED_ROWS:
        m = r[group][key]
        rows.append([label, rate(m["rate"]), us(m["p50"]), us(m["p99"]), f"{int(m['n']):,}"])
        bars.append((label, m["rate"]))
    cached = min(r["x509"]["cached"]["rate"], r["tokens"]["authenticator_cached"]["rate"])
    goals += [
        [
            "cached credential checks ≥ 200k/s in process",
            f"{rate(cached)}/s (slower of X.509, JWT)",
            verdict(cached >= 200_000),
        ],
        [
            "first-sight RS256 ≥ 5k/s",
            f"{rate(r['tokens']['first_sight_RS256']['rate'])}/s",
            verdict(r["tokens"]["first_sight_RS256"]["rate"] >= 5000),
        ],
    ]
    plot = plots.credentials(bars)
    return (
        "## 3. Credentials in process\n\n"
        + provenance(data)
        + "\n"
        + "X.509: root → intermediate → P-256 leaf SVIDs (`DevCA`), leaf-first DER chains, "
        "`X509SvidVerifier` (path building, signatures, SVID profile, SPIFFE ID) and `CachedX509Verifier` "
        "(sha256 of the chain → identity). JWT: RSA-2048, P-256 and Ed25519 keys from a `StaticKeySource`; "
        "`TokenValidator.validate` (PyJWT signature, claim checks, principal mapping) and "
        "`TokenAuthenticator.authenticate` (token cache in front). Each first-sight credential is distinct "
        "and verified once; one thread.\n\n"
        + table(["check", "per second", "p50 µs", "p99 µs", "calls"], rows)
        + f"\n![credentials]({plot})\n"
    )


SECTIONS: list[tuple[str, str, Callable[[dict[str, Any], list[list[str]]], str]]] = [
    ("engine", "1. Policy engine in process", engine),
    ("credentials", "3. Credentials in process", credentials),
]


def extra_sections() -> list[tuple[str, str, Callable[[dict[str, Any], list[list[str]]], str]]]:
    from bench import report_more, report_scale

    return [*report_more.SECTIONS, *report_scale.SECTIONS]


def render() -> Path:
    goals: list[list[str]] = []
    bodies = []
    sections = sorted([*SECTIONS, *extra_sections()], key=lambda s: s[1])
    for part, title, fn in sections:
        data = load(part)
        try:
            bodies.append(fn(data, goals) if data else f"## {title}\n\n" + NOT_RUN.format(part=part))
        except (KeyError, TypeError, ZeroDivisionError) as error:  # a result file from an older harness
            bodies.append(
                f"## {title}\n\n_result file could not be rendered ({error!r}); re-run this part._\n"
            )
    findings = FINDINGS.read_text() if FINDINGS.exists() else ""
    text = (
        "# Benchmarks\n\n"
        "Generated by `make bench` (= `python -m bench`; `make bench BENCH_ARGS=--quick` for a short run, "
        "`--only PART[,PART]` for some parts, `--report-only` to re-render this file). Raw results: "
        "`bench/results/*.json` (not committed); plots: `docs/bench/`. The harness installs its peers at run "
        "time into gitignored folders: ghz (`go install`, Go module proxy) and Cerbos (npm "
        "`@cerbos/cerbos-linux-x64`). Benchmarks are not tests and never gate CI. Figures are medians of what "
        "was run, on the machine named in each section. **The machine is a shared 2-CPU VM on which other "
        "engineers ran test suites, fuzzing and a soak test during these runs**; the load average before and "
        "after each part is printed with it, and figures taken at a load average above ~1.5 overstate "
        "latencies and understate throughput.\n\n"
        "## Goals\n\n"
        + table(["goal", "measured", "verdict"], goals)
        + "\n"
        + "\n".join(bodies)
        + ("\n" + findings if findings else "")
    )
    OUT.write_text(text)
    return OUT
