"""Part 6: memory. Service RSS with 100k rules and 100k cached tokens; shim heap per 100k cached decisions.

- `meshgate serve` with the generated 100k-rule policy: RSS of the real process, taken by the gRPC part
  while it serves that policy (bench/results/grpc.json, `large_policy.rss`), to load 100k rules once less.
- In a fresh interpreter: RSS after importing meshgate, after loading the 100k-rule policy, after
  filling `TokenCache` with 100k distinct verified identities (the `Identity` objects `TokenValidator`
  returns for a Kubernetes/SSO token with two groups; filled directly, since minting and verifying 100k
  RS256 tokens would take minutes and does not change what the cache holds: a sha256 key, the identity
  and an expiry).
- The shim: `bench/java/.../CacheHeapProbe.java`, compiled at run time against the shim jar and the
  broker classpath, fills the shim's own `DecisionCache` (Caffeine) with 100k distinct produce decisions
  and reports the heap after full GCs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.env import ROOT

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
from meshgate.oidc.authenticator import TokenCache
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
    return json.loads(proc.stdout.strip().splitlines()[-1])


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
    return json.loads(proc.stdout.strip().splitlines()[-1])


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
        # The RSS of `meshgate serve` with this policy is taken by the gRPC part (its 100k-rule run).
        try:
            log("memory: shim DecisionCache heap")
            out["shim"] = shim_heap(100_000, work)
            log(f"  {json.dumps(out['shim'])}")
        except (OSError, subprocess.CalledProcessError) as error:
            out["shim"] = {"error": str(error)[:300]}
    return out
