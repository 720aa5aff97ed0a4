"""Section 7: the policy at scale (`bench/policyscale.py`), the issue #19 goals for a 100k-rule policy."""

from __future__ import annotations

from typing import Any

from bench.report.common import Goals, load, provenance, table, us, verdict
from bench.report.memory import served_rss

PART, TITLE = "policyscale", "7. Policy at scale"

MIB = 1 << 20
# Engine latency at 100k rules (cold) before issue #19, which it must not get worse than.
ENGINE_BEFORE = (15.6e-6, 26.1e-6)


def _rss_goal(mem: dict[str, Any], rules: int) -> list[str]:
    """Judged on the real `meshgate serve` filled through Authenticate (part 6) when that ran, else on
    the in-process probe (which leaves out the gRPC and HTTP servers and trims the heap first)."""
    real = served_rss(load("memory"))
    if real is not None:
        value = real.get("rss_hits", real["rss"])
        how = "`meshgate serve`, part 6" + (f", median of {len(real['runs'])} runs" if "runs" in real else "")
        rules, tokens = real["rules"], real["tokens"]
    else:
        value, how, tokens = mem["tokens_cached"], "in-process probe", mem["tokens"]
    return [
        f"service RSS ≤ 150 MB with {rules:,} rules and {tokens:,} cached tokens",
        f"{value / 1e6:,.0f} MB ({how})",
        verdict(value <= 150e6),
    ]


def _goals(r: dict[str, Any], goals: Goals) -> None:
    mem, serve, rules = r["memory"], r["serve"], r["rules"]
    peak = serve["reload_peak_rss"] / serve["steady_rss"]
    goals += [
        _rss_goal(mem, rules),
        [
            f"compile {rules:,} rules ≤ 5 s",
            f"{r['compile']['seconds']:.1f} s",
            verdict(r["compile"]["seconds"] <= 5),
        ],
        [
            f"start to serving with {rules:,} rules ≤ 8 s",
            f"{serve['startup_s']:.1f} s",
            verdict(serve["startup_s"] <= 8),
        ],
        [
            "reload of one changed file takes effect ≤ 1 s",
            f"{serve['reload_s']:.2f} s",
            verdict(serve["reload_s"] <= 1),
        ],
        ["reload peak RSS ≤ 1.2× steady", f"{peak:.2f}×", verdict(peak <= 1.2)],
    ]
    engine = load("engine")
    if engine:
        last = engine["result"]["sizes"][-1]["cold"]
        goals += [
            [
                f"engine p50 / p99 at {rules:,} rules no worse than before #19 "
                f"({us(ENGINE_BEFORE[0])} / {us(ENGINE_BEFORE[1])} µs)",
                f"{us(last['p50'])} / {us(last['p99'])} µs",
                verdict(last["p50"] <= ENGINE_BEFORE[0] and last["p99"] <= ENGINE_BEFORE[1]),
            ]
        ]


def section(data: dict[str, Any], goals: Goals) -> str:
    r = data["result"]
    mem, serve, rules = r["memory"], r["serve"], r["rules"]
    both = mem["tokens_cached"]
    peak = serve["reload_peak_rss"] / serve["steady_rss"]
    _goals(r, goals)
    rows = [
        ["compile (read + compile, fresh interpreter; median)", f"{r['compile']['seconds']:.2f} s"],
        ["RSS: interpreter + meshgate imported", f"{mem['imported'] / MIB:,.0f} MiB"],
        [f"RSS: + {rules:,} rules", f"{mem['policy_loaded'] / MIB:,.0f} MiB"],
        [f"RSS: + {mem['tokens']:,} cached tokens", f"{both / MIB:,.0f} MiB"],
        ["`meshgate serve`: start to serving (/readyz 200)", f"{serve['startup_s']:.1f} s"],
        ["`meshgate serve`: steady RSS", f"{serve['steady_rss'] / MIB:,.0f} MiB"],
        ["one file changed: until /v1/explain answers with the new rule", f"{serve['reload_s']:.2f} s"],
        ["peak RSS over that reload", f"{serve['reload_peak_rss'] / MIB:,.0f} MiB ({peak:.2f}× steady)"],
        ["RSS after the reload", f"{serve['after_reload_rss'] / MIB:,.0f} MiB"],
    ]
    return (
        f"## {TITLE}\n\n"
        + provenance(data)
        + "\n"
        + f"The generated {rules:,}-rule policy (`bench/policygen.py`, as part 1). Compile in a fresh interpreter "
        "each time; RSS as part 6 (after `gc.collect()` and `malloc_trim(0)`); the real `meshgate serve` with "
        "the folder watched: start to serving is process start until /readyz answers 200, the reload rewrites "
        "one tenant's file with one more rule and is timed until /v1/explain allows what the rule allows "
        "(300 ms of it is the watcher's debounce); peak RSS is `VmHWM`, reset just before the write.\n\n"
        + table(["measure", "value"], rows)
    )
