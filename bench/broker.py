"""Part 4: through a real Pulsar 4.0 broker: meshgate (shim + service) against Pulsar's built-in token
authentication + PulsarAuthorizationProvider, same broker version, same run.

Per mode: 1,000 producers on distinct new topics (cold: first decision for each topic), the same 1,000
again (warm: the shim's decision cache / Pulsar's policy cache), then 1,000 consumers likewise; then a
broker restart on the same data and a connection storm of N new clients (each: connect + token
authentication, lookup, producer, one message; 64 in flight from 4 client processes; a client asks again
after a retriable error and is refused for good by `AuthorizationError`, see bench/stormworker.py). The
shim runs at its shipped defaults (issue #22: users do). All processes share the machine's 2 CPUs (no
pinning: the broker is the bottleneck for both modes).

The storm is measured STORM_REPEATS times per mode (`--quick`: once), interleaved (meshgate, built-in,
meshgate, ...): after both modes' creation rounds each broker is stopped on its data, and every storm
starts only the broker it measures, restarts it and sends new principals (tokens no storm used before, so
neither side answers from a cache it kept). One storm moved 16.5-23.0 s between runs with nothing changed
(finding 22); the goal row is judged on the ratio of the medians. About 35 s per 5,000-client storm
(restart and stop included), so the ten pairs take ~12 min.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pulsar

from bench import brokerenv, env
from bench.env import ROOT
from bench.stats import summary
from devtools.broker import SHIM_JAR

CONCURRENCY = 16
STORM_PROCESSES = 4
STORM_THREADS = 16
# A warm round of 1,000 creations takes 0.2-0.4 s, so a tenth of a second of the shared machine moves its
# ratio by 30-40 points: five rounds per mode read 1.23x-1.64x across three runs of the same code (finding
# 34). Fifteen rounds cost ~6 s per mode.
WARM_REPEATS = 15
# Single runs of five storm pairs of the same code read 1.14x-1.22x (finding 34), so the goal row judges
# ten pairs (~12 min).
STORM_REPEATS = 10
MODES = ("meshgate", "builtin")


def _client(setup: brokerenv.Setup, i: int) -> pulsar.Client:
    return pulsar.Client(
        setup.broker.service_url,
        authentication=pulsar.AuthenticationToken(setup.client_token(i)),
        operation_timeout_seconds=30,
        logger=pulsar.ConsoleLogger(pulsar.LoggerLevel.Error),
    )


def timed_round(create: Callable[[str], Any], topics: list[str]) -> dict[str, Any]:
    """Create one producer/consumer per topic, CONCURRENCY at a time; close them all afterwards."""

    def one(topic: str) -> tuple[float, Any]:
        began = time.monotonic()
        try:
            handle = create(topic)
        except Exception as error:  # reported, not fatal
            return time.monotonic() - began, error
        return time.monotonic() - began, handle

    began = time.monotonic()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        results = list(pool.map(one, topics))
    wall = time.monotonic() - began
    errors = [repr(h)[:120] for _, h in results if isinstance(h, Exception)]
    for _, handle in results:
        if not isinstance(handle, Exception):
            handle.close()
    return {
        "wall": wall,
        "count": len(topics),
        "errors": len(errors),
        "first_error": errors[:1],
        "latency": summary([s for s, _ in results]),
    }


def rounds(setup: brokerenv.Setup, n: int, log: Callable[[str], None]) -> dict[str, Any]:
    client = _client(setup, 0)
    out: dict[str, Any] = {}
    try:
        # "Cold" means cache-cold (each decision asked for the first time), not a cold JVM: the broker's
        # JIT otherwise dominates the first thousand creations in both modes (measured: the first round of
        # 500 new topics took 4.4-4.9 s, the next ones 2.4-3.0 s, in either mode). So both modes first
        # create producers and consumers on other topics; the storm after the restart keeps its cold JVM.
        warmup = [f"persistent://{brokerenv.NAMESPACE}/warmup-{i}" for i in range(n)]
        timed_round(client.create_producer, warmup)
        timed_round(lambda t: client.subscribe(t, "warmup"), warmup)
        producers = [f"persistent://{brokerenv.NAMESPACE}/p-{i}" for i in range(n)]
        consumers = [f"persistent://{brokerenv.NAMESPACE}/c-{i}" for i in range(n)]
        for label, topics, create in (
            ("producers_cold", producers, client.create_producer),
            ("producers_warm", producers, client.create_producer),
            ("consumers_cold", consumers, lambda t: client.subscribe(t, "bench")),
            ("consumers_warm", consumers, lambda t: client.subscribe(t, "bench")),
        ):
            # A warm round takes well under a second, so one run is mostly noise of the shared machine:
            # it is repeated and the median round (by wall time) is kept, for both modes alike.
            repeats = WARM_REPEATS if label.endswith("_warm") else 1
            runs = sorted((timed_round(create, topics) for _ in range(repeats)), key=lambda r: r["wall"])
            out[label] = runs[len(runs) // 2] | {"walls": [r["wall"] for r in runs]}
            log(f"    {label}: {out[label]['wall']:.2f} s for {n} (errors {out[label]['errors']})")
    finally:
        client.close()
    return out


def storm(setup: brokerenv.Setup, clients: int, topics: int, work: Path, first: int = 0) -> dict[str, Any]:
    """Clients refused for good, produced (and of those, after retrying), the time until the last one
    produced (`last_produced`, from the start of the storm: the storm's total) and, for meshgate, the p99 of
    the shim's answers, which the connect deadline is sized from (docs/shim.md). The clients are the
    principals `first` .. `first + clients - 1`."""
    jobs = [
        (setup.client_token(first + i), f"persistent://{brokerenv.NAMESPACE}/p-{i % topics}")
        for i in range(clients)
    ]
    files = []
    for w in range(STORM_PROCESSES):
        path = work / f"storm-{setup.mode}-{w}.json"
        path.write_text(json.dumps(jobs[w::STORM_PROCESSES]))
        files.append(path)
    child_env = {"PYTHONPATH": f"{ROOT}:{ROOT / 'service'}", "PATH": "/usr/bin:/bin"}
    pids = {"broker": setup.broker.pid} | ({"service": setup.service.pid} if setup.service else {})
    cpu_before = {name: thread_cpu(pid) for name, pid in pids.items()}
    began = time.monotonic()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.stormworker", setup.broker.service_url, str(f), str(STORM_THREADS)],
            stdout=subprocess.PIPE,
            text=True,
            env=child_env,
        )
        for f in files
    ]
    outputs = [p.communicate(timeout=900)[0] for p in procs]
    wall = time.monotonic() - began
    cpu = {name: cpu_spent(cpu_before[name], thread_cpu(pid)) for name, pid in pids.items()}
    finished: list[dict[str, Any]] = []
    errors: Counter[str] = Counter()
    for text in outputs:
        lines = text.strip().splitlines()
        finished += json.loads(lines[-1])["jobs"]
        # the client library logs its errors (level Error) before the worker's JSON line: kept by kind, so a
        # storm that refused clients says what the broker answered
        errors.update(client_error(line) for line in lines[:-1] if " ERROR " in line)
    produced = [job for job in finished if job["outcome"] == "produced"]
    outcomes = Counter(job["outcome"] for job in finished)
    done = [job["done_at"] - began for job in produced]
    result = {
        "clients": clients,
        "wall": wall,
        "last_produced": max(done) if done else float("nan"),
        "produced": len(produced),
        "produced_after_retrying": sum(1 for job in produced if job["attempts"] > 1),
        "refused": outcomes["refused"],
        "gave_up": outcomes["gave_up"],
        "retried_kinds": dict(Counter(kind for job in finished for kind in job["retried"])),
        "latency": summary([job["seconds"] for job in produced]),
        "cpu": cpu,
        "client_errors": dict(errors.most_common(5)),
    }
    if setup.mode == "meshgate":
        result["shim"] = shim_figures(setup.broker.metrics())
    return result


def client_error(line: str) -> str:
    """A client library error line without its time, thread, addresses and numbers."""
    text = line.split(" | ", 1)[-1]
    return re.sub(r"\d+", "N", text)[:200]


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds per thread of `pid` so far, by thread name with its digits dropped (`pulsar-io-3-7` and
    `pulsar-io-3-8` are one `pulsar-io--`); `{}` when the process is gone."""
    tick = os.sysconf("SC_CLK_TCK")
    found: dict[str, float] = defaultdict(float)
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return {}
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/stat") as f:
                stat = f.read()
        except OSError:
            continue  # the thread ended
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        found[re.sub(r"\d+", "", name)] += (int(fields[11]) + int(fields[12])) / tick
    return dict(found)


def cpu_spent(before: dict[str, float], after: dict[str, float]) -> dict[str, Any]:
    """The process's CPU seconds between two `thread_cpu` readings, and its ten busiest thread groups."""
    spent = {name: after[name] - before.get(name, 0.0) for name in after}
    top = sorted(spent.items(), key=lambda item: -item[1])[:10]
    return {"total": round(sum(spent.values()), 2), "threads": {k: round(v, 2) for k, v in top}}


def shim_figures(metrics: str) -> dict[str, Any]:
    """From the broker's /metrics after the storm: the p99 (a bucket's upper bound) of the shim's service
    answers and connects, and its retries and denials by reason."""
    return {
        "decision_p99_s": bucket_p99(
            metrics, 'meshgate_shim_decision_seconds_bucket{cluster="standalone",source="service"'
        ),
        "authentication_p99_s": bucket_p99(
            metrics, 'meshgate_shim_authentication_seconds_bucket{cluster="standalone",method="token"'
        ),
        "retries": counters(metrics, "meshgate_shim_retries_total{"),
        "calls": counters(metrics, "meshgate_shim_batch_items_count{"),
        "denials": {
            k: v for k, v in counters(metrics, "meshgate_shim_decisions_total{").items() if "deny" in k
        },
    }


def bucket_p99(metrics: str, prefix: str) -> float:
    buckets = []
    for line in metrics.splitlines():
        if line.startswith(prefix):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((float(le), float(line.rsplit(" ", 1)[1])))
    if not buckets or buckets[-1][1] == 0:
        return float("nan")
    total = buckets[-1][1]
    return next(le for le, count in sorted(buckets) if count >= 0.99 * total)


def counters(metrics: str, prefix: str) -> dict[str, float]:
    found = {}
    for line in metrics.splitlines():
        if line.startswith(prefix):
            name, value = line.rsplit(" ", 1)
            found[name.replace('cluster="standalone",', "")] = float(value)
    return found


def median_storm(storms: list[dict[str, Any]]) -> dict[str, Any]:
    """The run whose `last_produced` is the median (the upper one of an even count), for the details."""
    return sorted(storms, key=lambda s: s["last_produced"])[len(storms) // 2]


def storms(
    setups: dict[str, brokerenv.Setup],
    clients: int,
    topics: int,
    repeats: int,
    work: Path,
    log: Callable[[str], None],
    jars: dict[str, Path] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """`repeats` storms per setup, interleaved; each starts its (stopped) broker on its data, measures one
    storm of new principals and stops the broker again, so only the broker measured runs. A setup named in
    `jars` runs with that shim jar (copied in place before its broker starts)."""
    out: dict[str, list[dict[str, Any]]] = {label: [] for label in setups}
    for r in range(repeats):
        for label, setup in setups.items():
            use_jar(label, jars)
            setup.broker.keep_data = True
            restart_s = setup.broker.start()
            load = env.load_average()[0]
            log(f"    {label} storm {r + 1}/{repeats}: restarted in {restart_s:.1f} s (load {load:.2f})")
            try:
                s = storm(setup, clients, topics, work, first=1 + r * clients)
            finally:
                setup.broker.stop()
            s |= {"restart_s": restart_s, "load_before": load, "at": time.strftime("%H:%M:%S")}
            out[label].append(s)
            log(
                f"      last client produced after {s['last_produced']:.2f} s; produced {s['produced']} "
                f"({s['produced_after_retrying']} after retrying), refused {s['refused']}, "
                f"gave up {s['gave_up']}; CPU s broker {s['cpu']['broker']['total']}"
                + (f", service {s['cpu']['service']['total']}" if "service" in s["cpu"] else "")
            )
    return out


def use_jar(label: str, jars: dict[str, Path] | None) -> None:
    if jars and label in jars:
        shutil.copyfile(jars[label], SHIM_JAR)


def measure(
    n: int,
    storm_clients: int,
    repeats: int,
    log: Callable[[str], None],
    modes: tuple[str, ...] = MODES,
    creation_rounds: bool = True,
    jars: dict[str, Path] | None = None,
) -> dict[str, Any]:
    """The creation rounds of each mode (or, without `creation_rounds`, only the storm's `n` topics), then
    the interleaved storms. A mode may be labelled (`meshgate:new`) to run one shim jar of `jars`."""
    with tempfile.TemporaryDirectory(prefix="meshgate-bench-broker-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        out: dict[str, Any] = {
            "topics": n,
            "storm_clients": storm_clients,
            "storm_repeats": repeats,
            "warm_repeats": WARM_REPEATS,
            "concurrency": CONCURRENCY,
            "storm_in_flight": STORM_PROCESSES * STORM_THREADS,
            "modes": {},
        }
        setups = {}
        for label in modes:
            log(f"broker: {label}: starting Pulsar 4.0")
            use_jar(label, jars)
            mode = label.split(":", 1)[0]
            setup = stack.enter_context(brokerenv.running(mode, work / label.replace(":", "-")))
            out["modes"][label] = {"rounds": rounds(setup, n, log) if creation_rounds else {}}
            if not creation_rounds:
                create_storm_topics(setup, n)
            setup.broker.stop()
            setups[label] = setup
        for label, runs in storms(setups, storm_clients, n, repeats, work, log, jars).items():
            # `storm` and `restart_s` stay the median run's, for readers of a single storm
            median = median_storm(runs)
            out["modes"][label] |= {"storms": runs, "storm": median, "restart_s": median["restart_s"]}
    return out


def create_storm_topics(setup: brokerenv.Setup, n: int) -> None:
    """Create the storm's topics (`p-0` .. `p-{n-1}`) with one producer each, closed again."""
    client = _client(setup, 0)
    try:
        timed_round(client.create_producer, [f"persistent://{brokerenv.NAMESPACE}/p-{i}" for i in range(n)])
    finally:
        client.close()


def run(quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    return measure(1000, 500 if quick else 5000, 1 if quick else STORM_REPEATS, log)


def main(argv: list[str] | None = None) -> int:
    """A storm probe without the report: `python -m bench.broker [--clients N] [--repeats R] [--modes ...]`,
    skipping the creation rounds unless asked; prints the result as JSON (for profiling a change)."""
    parser = argparse.ArgumentParser(prog="python -m bench.broker", description=main.__doc__)
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--topics", type=int, default=1000)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--creation-rounds", action="store_true")
    parser.add_argument(
        "--shim-jar",
        action="append",
        default=[],
        metavar="LABEL=JAR",
        help="add a meshgate mode `meshgate:LABEL` running this shim jar (repeatable; A/B of a change)",
    )
    parser.add_argument("--out", type=Path, help="write the JSON here too")
    args = parser.parse_args(argv)
    modes = tuple(m for m in args.modes.split(",") if m)
    if set(modes) - set(MODES):
        parser.error(f"--modes: a comma-separated subset of {', '.join(MODES)}")
    jars = {}
    for spec in args.shim_jar:
        label, _, jar = spec.partition("=")
        if not label or not Path(jar).is_file():
            parser.error(f"--shim-jar {spec}: expected LABEL=PATH of an existing jar")
        jars[f"meshgate:{label}"] = Path(jar)
    modes += tuple(jars)
    if not modes:
        parser.error("nothing to measure: give --modes or --shim-jar")

    def log(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    result = measure(args.topics, args.clients, args.repeats, log, modes, args.creation_rounds, jars)
    text = json.dumps(result, indent=1, default=str)
    if args.out:
        args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
