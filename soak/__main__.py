"""`python -m soak` (make soak): capacity ramp, then SOAK_SECONDS at half of it; writes var/soak/result.json.

Exit status 1 unless: zero errors and zero wrong answers, RSS at the end ≤ 105 % of RSS after warm-up, and
no more open file descriptors at the end than after warm-up. Everything is on loopback and stops by itself.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import grpc

from soak import load
from soak import service as svc

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "var" / "soak"
SECONDS = float(os.environ.get("SOAK_SECONDS", "600"))
WARMUP, SAMPLE_EVERY, RAMP = 60.0, 10.0, (8, 32, 64, 128)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


async def capacity(calls: list[load.Call]) -> tuple[float, list[dict[str, float]]]:
    steps: list[dict[str, float]] = []
    for callers in RAMP:
        tally, rate = await load.closed_loop(calls, callers, 8.0)
        steps.append({"callers": callers, "rps": round(rate), "errors": tally.errors + tally.wrong})
        log(f"ramp: {callers} callers -> {rate:.0f} req/s ({tally.errors} errors, {tally.wrong} wrong)")
    return max(s["rps"] for s in steps), steps


async def hold(service: svc.Service, calls: list[load.Call], rate: float) -> dict[str, Any]:
    tally, samples = load.Tally(), []
    started = time.monotonic()
    skipped = 0
    while (elapsed := time.monotonic() - started) < SECONDS:
        skipped += await load.open_loop(calls, rate, min(SAMPLE_EVERY, SECONDS - elapsed), tally)
        samples.append(
            {"t": round(time.monotonic() - started), "rss": service.rss_bytes(), "fds": service.open_fds()}
        )
    return {"tally": tally, "samples": samples, "skipped": skipped, "seconds": time.monotonic() - started}


def verdict(run: dict[str, Any], rate: float) -> dict[str, Any]:
    tally: load.Tally = run["tally"]
    samples = run["samples"]
    base = next(s for s in samples if s["t"] >= min(WARMUP, samples[-1]["t"]))
    end = samples[-1]
    growth = (end["rss"] - base["rss"]) / base["rss"] * 100
    checks = {
        "zero_errors": tally.errors == 0 and tally.wrong == 0,
        "rss_growth_le_5pct": growth <= 5.0,
        "no_fd_growth": end["fds"] <= base["fds"],
        "offered_load_held": run["skipped"] <= tally.total // 1000,  # ≤ 0.1 % not sent: 256 calls were busy
    }
    return {
        "target_rps": round(rate),
        "achieved_rps": round(tally.total / run["seconds"]),
        "requests": tally.total,
        "errors": tally.errors,
        "wrong_answers": tally.wrong,
        "error_codes": tally.codes,
        "skipped_for_concurrency_limit": run["skipped"],
        "rss_after_warmup_mb": round(base["rss"] / 2**20, 1),
        "rss_end_mb": round(end["rss"] / 2**20, 1),
        "rss_growth_pct": round(growth, 2),
        "fds_after_warmup": base["fds"],
        "fds_end": end["fds"],
        "checks": checks,
        "passed": all(checks.values()),
        "samples": samples,
    }


async def main() -> int:
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    service = svc.start(WORK)
    try:
        async with grpc.aio.insecure_channel(service.target) as channel:
            calls = load.request_mix(channel, service.pki)
            peak, ramp = await capacity(calls)
            log(f"capacity {peak:.0f} req/s; holding {peak / 2:.0f} req/s for {SECONDS:.0f}s")
            result = verdict(await hold(service, calls, peak / 2), peak / 2)
    finally:
        service.stop()
    result = {"capacity_rps": round(peak), "ramp": ramp, "soak_seconds": SECONDS, **result}
    (WORK / "result.json").write_text(json.dumps(result, indent=2))
    summary = {k: v for k, v in result.items() if k not in ("samples", "ramp")}
    log(json.dumps(summary, indent=2))
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
