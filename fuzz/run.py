"""Run the harnesses, each in its own process, and summarise: `python -m fuzz.run [options]`.

    make fuzz        # CI: every harness for a few seconds, fixed seeds (≤ ~45 s in all)
    make fuzz-long   # the documented long run (budget per harness via FUZZ_SECONDS)

Each harness starts from a fresh corpus under var/fuzz/<target>/ (seeds written by the harness itself plus
fuzz/corpus/<target>/); crash inputs land in var/fuzz/artifacts/. Exit status 1 if any harness crashed or
hung. The summary (executions, seconds, status per harness) is printed and written to var/fuzz/summary.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = Path(os.environ.get("MESHGATE_FUZZ_WORK", ROOT / "var" / "fuzz"))
TARGETS = ("token", "x509", "policy", "rpc")
MAX_LEN = {"token": 20000, "x509": 16384, "policy": 8192, "rpc": 8192}
_DONE = re.compile(r"stat::number_of_executed_units:\s*(\d+)")


@dataclass
class Outcome:
    target: str
    executions: int
    seconds: float
    status: str  # ok | crash | hang | error
    artifact: str = ""


def command(target: str, seconds: int, seed: int, runs: int | None) -> list[str]:
    corpus = WORK / target / "corpus"
    shutil.rmtree(corpus, ignore_errors=True)
    corpus.mkdir(parents=True)
    (WORK / "artifacts").mkdir(parents=True, exist_ok=True)
    flags = [
        f"-seed={seed}", f"-max_total_time={seconds}", "-timeout=10", "-rss_limit_mb=2048",
        f"-max_len={MAX_LEN[target]}", f"-artifact_prefix={WORK / 'artifacts'}/{target}-",
        "-print_final_stats=1", "-print_pcs=0",
    ]  # fmt: skip
    if runs is not None:
        flags.append(f"-runs={runs}")
    static = ROOT / "fuzz" / "corpus" / target
    dirs = [str(corpus)] + ([str(static)] if static.is_dir() else [])
    return [sys.executable, "-m", "fuzz.harness", target, str(corpus), *flags, *dirs]


def run_one(target: str, seconds: int, seed: int, runs: int | None) -> Outcome:
    argv = command(target, seconds, seed, runs)
    log = WORK / target / "fuzz.log"
    started = time.monotonic()
    with log.open("w") as out:
        done = subprocess.run(argv, cwd=ROOT, stdout=out, stderr=out, check=False)
    elapsed = round(time.monotonic() - started, 1)
    text = log.read_text(errors="replace")
    executed = _DONE.findall(text)
    status = "ok"
    if done.returncode != 0:
        status = "hang" if "ERROR: libFuzzer: timeout" in text else "crash"
    artifact = next(iter(re.findall(r"Test unit written to (\S+)", text)), "")
    return Outcome(target, int(executed[-1]) if executed else 0, elapsed, status, artifact)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz.run")
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--seconds", type=int, default=10, help="budget per harness (-max_total_time)")
    parser.add_argument("--runs", type=int, default=None, help="stop each harness after this many inputs")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--parallel", type=int, default=1)
    args = parser.parse_args(argv)
    names = [t for t in args.targets.split(",") if t]
    with ThreadPoolExecutor(max_workers=args.parallel) as pool:
        outcomes = list(pool.map(lambda t: run_one(t, args.seconds, args.seed, args.runs), names))
    return report(outcomes)


def report(outcomes: list[Outcome]) -> int:
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "summary.json").write_text(json.dumps([asdict(o) for o in outcomes], indent=2))
    for o in outcomes:
        line = f"fuzz {o.target:<7} {o.status:<6} {o.executions:>11,} executions in {o.seconds:>7.1f} s"
        print(f"{line} {o.artifact}".rstrip())
    total = sum(o.executions for o in outcomes)
    print(f"fuzz total   {total:,} executions, {sum(o.status != 'ok' for o in outcomes)} failing harness(es)")
    return 0 if all(o.status == "ok" for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
