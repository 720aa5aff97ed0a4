"""PNG plots (matplotlib, Agg) into bench/results/; the referenced ones are copied to docs/bench/."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench.env import RESULTS, ROOT

DOCS = ROOT / "docs" / "bench"


def _save(fig: Any, name: str) -> str:
    RESULTS.mkdir(parents=True, exist_ok=True)
    DOCS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    shutil.copyfile(path, DOCS / name)
    return f"docs/bench/{name}"


def engine(sizes: list[dict[str, Any]]) -> str:
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    rules = [s["rules"] for s in sizes]
    for mix, style in (("warm", "-"), ("cold", "--")):
        for q, color in (("p50", "tab:blue"), ("p99", "tab:red")):
            left.plot(
                rules, [s[mix][q] * 1e6 for s in sizes], style, color=color, marker="o", label=f"{mix} {q}"
            )
    left.axhline(20, color="tab:blue", lw=0.8, ls=":", label="goal p50 20 µs")
    left.axhline(100, color="tab:red", lw=0.8, ls=":", label="goal p99 100 µs")
    left.set(xscale="log", xlabel="rules", ylabel="µs per decision", title="Decision latency (in process)")
    left.legend(fontsize=7)
    right.plot(rules, [s["load"]["read_s"] + s["load"]["compile_s"] for s in sizes], marker="o")
    right.set(xscale="log", yscale="log", xlabel="rules", ylabel="seconds", title="Load + compile time")
    return _save(fig, "engine.png")


def credentials(rows: list[tuple[str, float]]) -> str:
    fig, ax = plt.subplots(figsize=(9, 3.6))
    names, rates = zip(*rows, strict=True)
    ax.barh(names, rates, color="tab:green")
    ax.set(xscale="log", xlabel="checks per second (log)", title="Credential checks in process")
    for i, rate in enumerate(rates):
        ax.text(rate, i, f" {rate:,.0f}", va="center", fontsize=8)
    return _save(fig, "credentials.png")


def grpc_latency(curves: dict[str, list[tuple[float, float]]], name: str, title: str) -> str:
    """curves: label -> [(achieved rps, p99 ms)] at increasing offered load."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for label, points in curves.items():
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, marker="o", label=label)
    ax.set(yscale="log", xlabel="achieved requests per second", ylabel="p99 latency (ms, log)", title=title)
    ax.legend(fontsize=8)
    return _save(fig, name)


def bars(groups: dict[str, dict[str, float]], name: str, title: str, ylabel: str) -> str:
    """groups: category -> {series: value}; grouped bar chart."""
    fig, ax = plt.subplots(figsize=(9, 4))
    categories = list(groups)
    series = sorted({s for g in groups.values() for s in g})
    width = 0.8 / max(1, len(series))
    for i, s in enumerate(series):
        xs = [c + i * width for c in range(len(categories))]
        ax.bar(xs, [groups[c].get(s, 0) for c in categories], width, label=s)
    ax.set_xticks([c + width * (len(series) - 1) / 2 for c in range(len(categories))], categories, fontsize=8)
    ax.set(ylabel=ylabel, title=title)
    ax.legend(fontsize=8)
    return _save(fig, name)


def cdf(series: dict[str, list[float]], name: str, title: str, xlabel: str) -> str:
    fig, ax = plt.subplots(figsize=(8, 4))
    for label, values in series.items():
        if values:
            ordered = sorted(values)
            ax.step(ordered, [(i + 1) / len(ordered) for i in range(len(ordered))], where="post", label=label)
    ax.set(xlabel=xlabel, ylabel="fraction", title=title)
    ax.legend(fontsize=8)
    return _save(fig, name)


def unused(path: Path) -> None:
    """Remove a stale copy (a plot whose part was not run)."""
    path.unlink(missing_ok=True)
