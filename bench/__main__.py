"""`python -m bench [--quick] [--only engine,credentials,...] [--report-only]`.

Each part writes bench/results/<part>.json; the report (BENCHMARKS.md, plots) is rebuilt from every
result file present, so parts can be re-run one at a time.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "service"))

from bench import env  # noqa: E402

PARTS = ("engine", "credentials", "grpc", "broker", "propagation", "memory", "policyscale")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def save(part: str, result: dict[str, Any], quick: bool, began: float) -> Path:
    env.RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {
        "part": part,
        "quick": quick,
        "machine": env.machine(),
        "versions": env.versions(),
        "load_before": result.pop("_load_before", None),
        "seconds": round(time.monotonic() - began, 1),
        "result": result,
    }
    path = env.RESULTS / f"{part}.json"
    path.write_text(json.dumps(payload, indent=1, default=str))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes and shorter runs (~5 min)")
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts: {', '.join(PARTS)}")
    parser.add_argument("--report-only", action="store_true", help="re-render BENCHMARKS.md from results")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown part(s): {', '.join(unknown)}")
    failed = []
    if not args.report_only:
        for part in parts:
            began = time.monotonic()
            log(f"=== {part} (load average {env.load_average()[0]:.2f})")
            module = importlib.import_module(f"bench.{part}")
            load_before = list(env.load_average())
            try:
                result = module.run(args.quick, log)
            except Exception as error:  # a benchmark that breaks must not hide the others' results
                log(f"{part} FAILED: {error!r}")
                failed.append(part)
                continue
            result["_load_before"] = load_before
            log(f"{part} done in {time.monotonic() - began:.0f} s -> {save(part, result, args.quick, began)}")
    from bench import report

    written = report.render()
    log(f"wrote {written}")
    if failed:
        log(f"parts that failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
