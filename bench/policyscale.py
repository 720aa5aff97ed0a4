"""Part 7: the policy at scale (issue #19): compile, start to serving, a one-file reload, memory.

On the generated 100,000-rule policy (`bench/policygen.py`):

- compile: `read_source` + `compile_source` in a fresh interpreter each time (cold caches, as at start);
- memory: the RSS probe of part 6 (100k rules and 100k cached tokens, `bench/memory.py`);
- the real `meshgate serve` (gRPC on TCP, HTTP with /readyz and /v1/explain, the policy folder watched):
  start to serving = process start until /readyz answers 200; its RSS then; a reload = one tenant's file
  rewritten with one more rule, timed from the write until /v1/explain answers with the new rule, with the
  peak RSS over the reload (`VmHWM`, reset through `/proc/<pid>/clear_refs` just before the write).

Engine latency at 100k rules is part 1's (`python -m bench --only engine`).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from bench.memory import http_get, proc_status, python_probe, service_env
from bench.policygen import write_policy
from bench.stats import median
from devtools.jvm import stop_group
from devtools.ports import free_port

RULES = 100_000
COMPILE = """
import sys, time
from pathlib import Path
from meshgate.policy.loader import compile_source, read_source
began = time.perf_counter()
snapshot = compile_source(read_source(Path(sys.argv[1])))
print(time.perf_counter() - began, len(snapshot.rules))
"""
PROBE_PRINCIPAL = "bench-reload"


def compile_seconds(policy: Path, repeats: int) -> dict[str, Any]:
    runs = []
    for _ in range(repeats):
        done = subprocess.run(
            [sys.executable, "-c", COMPILE, str(policy)],
            capture_output=True,
            text=True,
            env=service_env(),
            timeout=900,
            check=True,
        )
        runs.append(float(done.stdout.split()[0]))
    return {"seconds": median(runs), "runs": runs}


def _explain_allows(http: str, principal: str, topic: str) -> bool:
    query = urllib.parse.urlencode({"principal": principal, "action": "topic.produce", "resource": topic})
    status, body = http_get(f"{http}/v1/explain?{query}")
    return status == 200 and json.loads(body).get("allowed") is True


def _one_more_rule(policy: Path) -> tuple[Path, str, str]:
    """The text of one tenant's file with a rule added that lets PROBE_PRINCIPAL produce to its topics."""
    path = sorted(policy.glob("t*.yaml"))[len(list(policy.glob("t*.yaml"))) // 2]
    doc = yaml.safe_load(path.read_text())
    tenant = path.stem
    doc["rules"].append(
        {
            "name": "bench-reload",
            "effect": "allow",
            "subjects": [{"role": PROBE_PRINCIPAL}],
            "actions": ["produce"],
            "resources": [f"persistent://{tenant}/ns0/*"],
        }
    )
    return path, yaml.safe_dump(doc, sort_keys=False), f"persistent://{tenant}/ns0/reloaded"


def serve_and_reload(policy: Path, work: Path, log: Callable[[str], None]) -> dict[str, Any]:
    http = f"127.0.0.1:{free_port()}"
    config = {
        "grpc": {"listen": f"127.0.0.1:{free_port()}"},
        "http": {"listen": http},
        "policy": {"dir": str(policy), "watch": True},
    }
    (work / "meshgate.yaml").write_text(yaml.safe_dump(config))
    argv = [sys.executable, "-m", "meshgate", "serve", "--config", str(work / "meshgate.yaml")]
    with (work / "serve.log").open("ab") as out:
        began = time.monotonic()
        process = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env=service_env(), cwd=work, start_new_session=True
        )
    base = f"http://{http}"
    try:
        while http_get(f"{base}/readyz")[0] != 200:
            if process.poll() is not None or time.monotonic() - began > 600:
                raise RuntimeError(f"meshgate serve did not become ready; see {work / 'serve.log'}")
            time.sleep(0.05)
        startup = time.monotonic() - began
        time.sleep(2)  # let the start-up settle before taking the steady RSS
        steady = proc_status(process.pid)["VmRSS"]
        path, text, topic = _one_more_rule(policy)
        assert not _explain_allows(base, PROBE_PRINCIPAL, topic)
        Path(f"/proc/{process.pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
        written = time.monotonic()
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.rename(path)  # atomically, as git-sync and editors do
        while not _explain_allows(base, PROBE_PRINCIPAL, topic):
            if time.monotonic() - written > 300:
                raise RuntimeError("the reload did not take effect in 300 s")
            time.sleep(0.01)
        reload_s = time.monotonic() - written
        time.sleep(1)  # the old snapshot drains
        status = proc_status(process.pid)
        log(f"policyscale: serving after {startup:.1f} s, reload took effect after {reload_s:.2f} s")
        return {
            "startup_s": startup,
            "steady_rss": steady,
            "reload_s": reload_s,
            "reload_peak_rss": status["VmHWM"],
            "after_reload_rss": status["VmRSS"],
        }
    finally:
        stop_group(process, grace=15)


def run(quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="meshgate-bench-scale-") as tmp:
        work = Path(tmp)
        generated = write_policy(work / "policy", RULES)
        log(f"policyscale: compile {RULES:,} rules in a fresh interpreter")
        compiled = compile_seconds(generated.path, 1 if quick else 3)
        log(f"  {compiled['seconds']:.1f} s")
        log(f"policyscale: RSS with {RULES:,} rules and {RULES:,} cached tokens")
        memory = python_probe(generated.path, RULES)
        log(f"  {json.dumps(memory)}")
        served = serve_and_reload(generated.path, work, log)
    return {"rules": RULES, "compile": compiled, "memory": memory, "serve": served}
