"""What every section of BENCHMARKS.md shares: number formats, tables, verdicts, result files, provenance."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from bench.env import RESULTS

Goals = list[list[str]]
Section = Callable[[dict[str, Any], Goals], str]


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
