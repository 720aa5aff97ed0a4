"""Part 6: memory. Service RSS with 100k rules and 100k cached tokens; shim heap per 100k cached decisions.

- The real service: `meshgate serve` with the generated 100k-rule policy (watched, as deployed) and a
  Kubernetes OIDC issuer whose JWKS a thread of this process serves on 127.0.0.1; 100k distinct tokens
  (`bench/tokenfill.py`: EdDSA, minted in worker processes while the service compiles its policy) each go
  once through the Authenticate RPC over 4 channels; every answer must be the token's identity and the
  service's `meshgate_token_cache_entries` must reach 100k (`oidc.token_cache_size` is raised to 100k
  from its default 10k, and `token_cache_ttl_seconds` to 3600 from 60 so no entry lapses meanwhile).
  VmRSS before the tokens and after them, VmHWM, threads: `/proc/<pid>/status`, as the kernel counts it
  (no `gc.collect` or `malloc_trim` from outside). Then every token once more, each a cache hit (a hit
  re-inserts its entry, which grows the cache's dict as a serving cache's does): VmRSS again, the figure
  the goal is judged on. Three services in a row (one set of tokens); the goal reads the median run, for
  the same code moved 5-7 MiB between runs (findings 29, 30: how much of grpc's and cryptography's
  libraries the kernel maps in at start).
- `meshgate serve` with that policy, no tokens: also taken by the gRPC part while it serves that policy
  (bench/results/grpc.json, `large_policy.rss`).
- In a fresh interpreter (the probe, for the breakdown): RSS after importing meshgate, after loading the
  100k-rule policy, after filling `TokenCache` with 100k distinct verified identities (as `TokenValidator`
  makes them for a Kubernetes token with two groups: one principal each, the expiry and issuer shared;
  filled with `put`, so what it measures is what the cache holds: a sha256 key, the identity, an expiry).
- The shim: `bench/java/.../CacheHeapProbe.java`, compiled at run time against the shim jar and the
  broker classpath, fills the shim's own `DecisionCache` (Caffeine) with 100k distinct produce decisions
  and reports the heap after full GCs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from bench.env import ROOT
from devtools.jvm import stop_group
from devtools.ports import free_port

MIB = 1 << 20
PROBE = r"""
import ctypes, gc, json, sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
def rss():
    gc.collect()
    ctypes.CDLL('libc.so.6').malloc_trim(0)  # hand freed heap back, so RSS ~ live data + allocator arenas
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS'):
            return int(line.split()[1]) * 1024
def tokens(n):
    cache = TokenCache(n, 3600, SystemClock())
    exp = datetime.now(UTC) + timedelta(hours=1)
    for i in range(n):
        principal = f"spiffe://cluster.local/ns/team-{i % 500}/sa/client-{i}"
        groups = {"groups": (f"team-{i % 500}", "staff")}
        issuer = "https://kubernetes.default.svc"
        ident = Identity(principal, CredentialKind.K8S_SA_TOKEN, exp, issuer, groups)
        cache.put(f'eyJ.{i}.token-{i:08d}', ident)
    return cache
from meshgate.policy import load_policy
from meshgate.clock import SystemClock
from meshgate.model import CredentialKind, Identity
from meshgate.oidc import TokenCache
n = int(sys.argv[2])
out = {'imported': rss()}
only_tokens = tokens(n)
out['tokens_only'] = rss(); out['tokens'] = len(only_tokens)
del only_tokens
out['tokens_dropped'] = rss()
snap = load_policy(Path(sys.argv[1]))
out['policy_loaded'] = rss(); out['rules'] = len(snap.rules)
both = tokens(n)
out['tokens_cached'] = rss()
print(json.dumps(out))
"""


def python_probe(policy: Path, tokens: int) -> dict[str, Any]:
    env = {"PYTHONPATH": str(ROOT / "service"), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, str(policy), str(tokens)],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        check=True,
    )
    found: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return found


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (bytes) and Threads of a process, from /proc/<pid>/status."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) * 1024
        elif key == "Threads":
            out[key] = int(value)
    return out


def http_get(url: str) -> tuple[int, bytes]:
    """Status and body; 0 when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, b""
    except OSError:
        return 0, b""


def service_env() -> dict[str, str]:
    """`meshgate serve`'s environment: this one without MESHGATE_* overrides, meshgate from this tree."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESHGATE_")}
    return env | {"PYTHONPATH": str(ROOT / "service")}


def _metric(base: str, name: str) -> float:
    status, body = http_get(f"{base}/metrics")
    for line in body.decode().splitlines() if status == 200 else ():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    raise RuntimeError(f"{name} not in {base}/metrics (HTTP {status})")


def _wait_ready(base: str, process: subprocess.Popen[bytes], began: float, log_path: Path) -> float:
    while http_get(f"{base}/readyz")[0] != 200:
        if process.poll() is not None or time.monotonic() - began > 600:
            raise RuntimeError(f"meshgate serve did not become ready; see {log_path}")
        time.sleep(0.05)
    return time.monotonic() - began


SERVED_RUNS = 3


def served_runs(policy: Path, tokens: int, work: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """`SERVED_RUNS` fresh services filled with the same tokens; the median run (by RSS after the hits)
    with every run's figures beside it."""
    from bench.tokenfill import mint_tokens, new_signer

    private, jwks = new_signer()
    minted = mint_tokens(private, tokens)
    runs = [served_with_tokens(policy, minted, jwks, work, log) for _ in range(SERVED_RUNS)]
    median = sorted(runs, key=lambda run: run["rss_hits"])[len(runs) // 2]
    return median | {"runs": [{k: run[k] for k in ("rss_ready", "rss", "rss_hits", "hwm")} for run in runs]}


def served_with_tokens(
    policy: Path, minted: list[str], jwks: dict[str, Any], work: Path, log: Callable[[str], None]
) -> dict[str, Any]:
    """The real `meshgate serve` with `policy`, then with the `minted` tokens in its token cache, then
    after each was asked for once more (a hit)."""
    from bench.tokenfill import authenticate_all, issuer_config, jwks_server

    tokens = len(minted)
    grpc_target, http_base = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    with jwks_server(jwks) as keys:
        config = {
            "grpc": {"listen": grpc_target},
            "http": {"listen": http_base},
            "policy": {"dir": str(policy), "watch": True},
            "oidc": {
                "issuers": [issuer_config(keys.url)],
                "token_cache_size": max(tokens, 1),
                "token_cache_ttl_seconds": 3600,
            },
        }
        (work / "serve-tokens.yaml").write_text(yaml.safe_dump(config))
        argv = [sys.executable, "-m", "meshgate", "serve", "--config", str(work / "serve-tokens.yaml")]
        log_path = work / "serve-tokens.log"
        with log_path.open("ab") as out:
            began = time.monotonic()
            env = service_env()
            process = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=work, start_new_session=True
            )
        try:
            startup = _wait_ready(f"http://{http_base}", process, began, log_path)
            time.sleep(2)  # settle, as part 7 does
            ready = proc_status(process.pid)
            seconds = authenticate_all(grpc_target, minted)
            cached = int(_metric(f"http://{http_base}", "meshgate_token_cache_entries"))
            if cached != tokens:
                raise RuntimeError(f"the token cache holds {cached:,} tokens, not {tokens:,}")
            time.sleep(2)
            filled = proc_status(process.pid)
            hits_s = authenticate_all(grpc_target, minted)
            hits = int(_metric(f"http://{http_base}", "meshgate_token_cache_hits_total"))
            if hits < tokens:
                raise RuntimeError(f"{hits:,} token cache hits after asking again for {tokens:,} tokens")
            time.sleep(2)
            after_hits = proc_status(process.pid)
        finally:
            stop_group(process, grace=15)
    log(
        f"memory: serve ready after {startup:.1f} s, {tokens:,} tokens authenticated in {seconds:.1f} s, "
        f"again (hits) in {hits_s:.1f} s: RSS {ready['VmRSS'] / MIB:,.1f} -> {filled['VmRSS'] / MIB:,.1f} "
        f"-> {after_hits['VmRSS'] / MIB:,.1f} MiB"
    )
    return {
        "tokens": tokens,
        "startup_s": startup,
        "fill_s": seconds,
        "hits_s": hits_s,
        "rss_ready": ready["VmRSS"],
        "rss": filled["VmRSS"],
        "rss_hits": after_hits["VmRSS"],
        "hwm": after_hits["VmHWM"],
        "threads": after_hits["Threads"],
        "token_cache_size": max(tokens, 1),
        "token_cache_ttl_seconds": 3600,
    }


def shim_heap(entries: int, workdir: Path) -> dict[str, Any]:
    from devtools.broker import SHIM_JAR, classpath_file

    classpath = f"{SHIM_JAR}:{classpath_file('4.0').read_text().strip()}"
    classes = workdir / "classes"
    classes.mkdir(parents=True, exist_ok=True)
    source = ROOT / "bench" / "java" / "dev" / "meshgate" / "pulsar" / "CacheHeapProbe.java"
    subprocess.run(
        ["javac", "-d", str(classes), "-cp", classpath, str(source)],
        check=True,
        timeout=300,
        capture_output=True,
    )
    proc = subprocess.run(
        [
            "java",
            "-Xmx1g",
            "-XX:+UseG1GC",
            "-cp",
            f"{classes}:{classpath}",
            "dev.meshgate.pulsar.CacheHeapProbe",
            str(entries),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    found: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return found


def run(quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    from bench.policygen import write_policy

    rules = tokens = 100_000
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="meshgate-bench-mem-") as tmp:
        work = Path(tmp)
        generated = write_policy(work / "policy", rules)
        log(f"memory: python probe ({rules:,} rules, {tokens:,} cached tokens)")
        out["python"] = python_probe(generated.path, tokens)
        log(f"  {json.dumps(out['python'])}")
        log(f"memory: meshgate serve ({rules:,} rules), then {tokens:,} tokens through Authenticate")
        out["served"] = served_runs(generated.path, tokens, work, log) | {"rules": generated.rules}
        # The RSS of `meshgate serve` with this policy is taken by the gRPC part (its 100k-rule run).
        try:
            log("memory: shim DecisionCache heap")
            out["shim"] = shim_heap(100_000, work)
            log(f"  {json.dumps(out['shim'])}")
        except (OSError, subprocess.CalledProcessError) as error:
            out["shim"] = {"error": str(error)[:300]}
    return out
