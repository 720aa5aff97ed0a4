"""Section 5: propagation, policy commit -> effect (`bench/propagation.py`)."""

from __future__ import annotations

from typing import Any

from bench import plots
from bench.report.common import Goals, ms, provenance, table, verdict

PART, TITLE = "propagation", "5. Propagation: policy commit → effect"


def section(data: dict[str, Any], goals: Goals) -> str:
    r = data["result"]
    nd, ld = r["new_denied"], r["live_disconnected"]
    goals += [
        [
            "policy commit → new producer denied, p99 ≤ 1 s",
            f"p99 {ms(nd['p99'])} ms (p50 {ms(nd['p50'])} ms, {int(nd['n'])}/{r['commits']} commits)",
            verdict(nd["missing"] == 0 and nd["p99"] <= 1.0),
        ],
        [
            "policy commit → live producer disconnected, p99 ≤ 2 s",
            f"p99 {ms(ld['p99'])} ms (p50 {ms(ld['p50'])} ms, {int(ld['n'])}/{r['commits']} commits)",
            verdict(ld["missing"] == 0 and ld["p99"] <= 2.0),
        ],
    ]
    series = {
        "new producer denied": [x["new_denied"] * 1e3 for x in r["rounds"] if x["new_denied"] is not None],
        "live producer disconnected": [
            x["live_disconnected"] * 1e3 for x in r["rounds"] if x["live_disconnected"] is not None
        ],
    }
    plot = plots.cdf(
        series, "propagation.png", f"Policy commit → effect ({r['commits']} commits)", "ms after the commit"
    )
    rows = [
        [label, ms(s["p50"]), ms(s["p99"]), ms(s["max"]), str(s["missing"])]
        for label, s in (("new producer denied", nd), ("live producer disconnected", ld))
    ]
    return (
        f"## {TITLE}\n\n"
        + provenance(data)
        + "\n"
        + f"{r['commits']} commits through a real Pulsar 4.0.7 broker with the shim (decision cache on, session "
        "revoker loaded) and `meshgate serve` watching its policy folder. Each commit adds one file (atomic "
        "rename) denying `topic.produce` on a fresh topic to a principal that holds a live, named producer "
        "there and whose allow for that topic is cached in the shim. Pollers every "
        f"{r['poll_s'] * 1000:.0f} ms: a new producer attempt, and the topic's stats for the live producer.\n\n"
        + table(["effect", "p50 ms", "p99 ms", "max ms", "not seen in 15 s"], rows)
        + f"\n![propagation]({plot})\n"
    )
