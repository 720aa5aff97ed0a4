"""Part 2: meshgate over gRPC against Cerbos 0.55 on an equivalent two-rule RBAC policy.

Same load generator (ghz, pinned to CPU 0 with GOMAXPROCS=1), same machine, same run; each server runs
alone, pinned to CPU 1 (Cerbos's Go runtime then uses one P). TCP loopback and a Unix socket. Load points:
saturation at concurrency 1 and 32, then fixed offered loads at concurrency 32. Plus meshgate's
AuthorizeBatch (100 decisions per call) and, in the full run, meshgate with the 100k-rule policy.

AuthorizeBatch runs two ways, because meshgate memoizes decisions per policy revision (LRU,
`DEFAULT_MAX_ENTRIES`): "repeated questions" sends the same message every call (after the first call every
decision is a memo hit), "distinct questions" cycles ghz through `DISTINCT_BATCHES` messages whose requests
are all different, more of them than the memo holds, so nearly every decision misses and is evaluated. The
batch servers serve /metrics too, and each point records the memo's hit ratio over that point.
"""

from __future__ import annotations

import json
import random
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from meshgate.server.decision_memo import DEFAULT_MAX_ENTRIES
from meshgate.v1 import meshgate_pb2 as pb

from bench import tools
from bench.grpcload import PROTO, Call, ghz_point, write_messages
from bench.policygen import request_pool, sample_request, write_policy
from bench.servers import CerbosServer, EchoServer, MeshgateServer, Server
from devtools.ports import free_port

WRITER = "spiffe://cluster.local/ns/payments/sa/writer"
TOPIC = {"tenant": "acme", "namespace": "acme/payments", "topic": "persistent://acme/payments/orders"}
MESHGATE_POLICY = f"""\
# Two rules, as the Cerbos policy in bench/servers.py: writers produce, readers consume.
apiVersion: meshgate.dev/v1
kind: AccessPolicy
metadata: {{name: bench}}
rules:
  - name: writers
    effect: allow
    subjects: [{{spiffe: "{WRITER}"}}]
    actions: [produce]
    resources: ["persistent://acme/payments/*"]
  - name: readers
    effect: allow
    subjects: [{{spiffe: "spiffe://cluster.local/ns/payments/sa/reader"}}]
    actions: [consume]
    resources: ["persistent://acme/payments/*"]
"""
AUTHORIZE = Call(
    "meshgate.v1.Authorization/Authorize",
    {"principal": WRITER, "action": "topic.produce", "resource": TOPIC},
    PROTO / "meshgate" / "v1" / "meshgate.proto",
)
CHECK = Call(
    "cerbos.svc.v1.CerbosService/CheckResources",
    {
        "requestId": "bench",
        "principal": {"id": WRITER, "roles": ["writer"]},
        "resources": [
            {
                "actions": ["topic.produce"],
                "resource": {
                    "kind": "topic",
                    "id": TOPIC["topic"],
                    "attr": {"tenant": "acme", "namespace": "acme/payments"},
                },
            }
        ],
    },
)
BATCH_SIZE = 100
# Messages of the "distinct questions" variant: 300 x 100 = 30,000 different requests, ~1.8x the memo's
# 16,384 entries, so an LRU cycled through them in order never hits.
DISTINCT_BATCHES = 300
assert DISTINCT_BATCHES * BATCH_SIZE > DEFAULT_MAX_ENTRIES


def batch_call(requests: list[dict[str, Any]]) -> Call:
    return Call(
        "meshgate.v1.Authorization/AuthorizeBatch",
        {"requests": requests},
        AUTHORIZE.proto,
        decisions_per_call=len(requests),
    )


def cycled_batch_call(requests: list[dict[str, Any]], path: Path) -> Call:
    """AuthorizeBatch over `requests`, BATCH_SIZE per message, ghz sending the messages round-robin."""
    batches = [{"requests": requests[i : i + BATCH_SIZE]} for i in range(0, len(requests), BATCH_SIZE)]
    write_messages(path, pb.AuthorizeBatchRequest, batches)
    return Call(
        "meshgate.v1.Authorization/AuthorizeBatch",
        batches[0],
        AUTHORIZE.proto,
        decisions_per_call=BATCH_SIZE,
        messages=path,
    )


class ObservedMeshgate(MeshgateServer):
    """`meshgate serve` with its HTTP port on, to read the decision memo's hit and miss counters."""

    def __init__(self, workdir: Path, uds: bool, policy_dir: Path) -> None:
        super().__init__(workdir, uds, policy_dir)
        self.http_port = free_port()

    def argv(self) -> list[str]:
        argv = super().argv()
        path = self.workdir / "meshgate.yaml"
        config = yaml.safe_load(path.read_text())
        config["http"] = {"listen": f"127.0.0.1:{self.http_port}", "policy_endpoints": False}
        path.write_text(yaml.safe_dump(config))
        return argv

    def memo_counts(self) -> tuple[float, float]:
        """(hits, misses) of the decision memo since start."""
        url = f"http://127.0.0.1:{self.http_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as resp:
            text = resp.read().decode()
        values = {}
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name in ("meshgate_decision_memo_hits_total", "meshgate_decision_memo_misses_total"):
                values[name] = float(value)
        return values["meshgate_decision_memo_hits_total"], values["meshgate_decision_memo_misses_total"]


def observed_point(server: ObservedMeshgate, call: Call, concurrency: int, seconds: float) -> dict[str, Any]:
    """One ghz point plus the share of its decisions the memo answered."""
    hits0, misses0 = server.memo_counts()
    point = ghz_point(server.target, call, concurrency=concurrency, seconds=seconds)
    hits1, misses1 = server.memo_counts()
    looked_up = (hits1 - hits0) + (misses1 - misses0)
    return point | {"memo_hit_ratio": (hits1 - hits0) / looked_up if looked_up else None}


def cerbos_allows(server: CerbosServer) -> bool:
    """One CheckResources over Cerbos's HTTP API: the policy must allow the benchmark request."""
    body = json.dumps(CHECK.data).encode()
    req = urllib.request.Request(
        f"http://{server.http_address}/api/check/resources",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        answer = json.loads(resp.read())
    return bool(answer["results"][0]["actions"]["topic.produce"] == "EFFECT_ALLOW")


def series(
    server: Server, call: Call, seconds: float, loads: list[int], log: Callable[[str], None]
) -> list[dict[str, Any]]:
    ghz_point(server.target, call, concurrency=8, seconds=1)  # warm-up, discarded
    points = []
    for concurrency, rps in [(1, 0), (32, 0), *[(32, r) for r in loads]]:
        point = ghz_point(server.target, call, concurrency=concurrency, seconds=seconds, rps=rps)
        lat = point["latency"]
        log(
            f"    c={concurrency:<2} offered={rps or 'max':>5}: {point['rps']:8,.0f}/s  p50 "
            f"{lat.get('p50', 0) * 1e3:6.2f} ms  p99 {lat.get('p99', 0) * 1e3:6.2f} ms  "
            f"errors {point['errors_beyond_cutoff']}"
        )
        points.append(point)
    return points


def with_server(server: Server, body: Callable[[], Any]) -> Any:
    server.start()
    try:
        return body()
    finally:
        server.stop()


def run(quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    seconds = 4.0 if quick else 6.0
    loads = [500, 1500, 2500] if quick else [500, 1000, 2000, 3000]
    out: dict[str, Any] = {
        "seconds_per_point": seconds,
        "runs": {},
        "_versions": {"cerbos": tools.cerbos_version(tools.cerbos()), "ghz": "v0.93.0"},
    }
    with tempfile.TemporaryDirectory(prefix="meshgate-bench-grpc-") as tmp:
        work = Path(tmp)
        policy = work / "policy"
        policy.mkdir()
        (policy / "bench.yaml").write_text(MESHGATE_POLICY)
        for transport in ("tcp", "uds"):
            uds = transport == "uds"
            for name, make, call in (
                ("meshgate", lambda u=uds: MeshgateServer(work / f"m-{u}", u, policy), AUTHORIZE),
                ("cerbos", lambda u=uds: CerbosServer(work / f"c-{u}", u), CHECK),
                ("python-echo", lambda u=uds: EchoServer(work / f"e-{u}", u, "sync"), AUTHORIZE),
                ("python-echo-aio", lambda u=uds: EchoServer(work / f"a-{u}", u, "aio"), AUTHORIZE),
            ):
                log(f"grpc: {name} over {transport}")
                server = make()

                def body(
                    server: Server = server, call: Call = call, name: str = name
                ) -> list[dict[str, Any]]:
                    if isinstance(server, CerbosServer) and not cerbos_allows(server):
                        raise RuntimeError("the Cerbos policy does not allow the benchmark request")
                    return series(server, call, seconds, loads, log)

                out["runs"][f"{name}/{transport}"] = with_server(server, body)
        out["batch"] = _batch(work, policy, seconds, log)
        out["batch_variants"] = {
            "memo_entries": DEFAULT_MAX_ENTRIES,
            "repeated": {"messages": 1, "distinct_requests": BATCH_SIZE},
            # per ghz run; every run (warm-up included) asks its own, never asked before
            "distinct": {"messages": DISTINCT_BATCHES, "distinct_requests": DISTINCT_BATCHES * BATCH_SIZE},
        }
        if not quick:
            out["large_policy"] = _large_policy(work, seconds, log)
    return out


def _writers(first: int, count: int) -> list[dict[str, Any]]:
    """Allowed produce requests of the writer, each on its own topic t-<n>."""
    return [
        {
            "principal": WRITER,
            "action": "topic.produce",
            "resource": {**TOPIC, "topic": f"persistent://acme/payments/t-{n}"},
        }
        for n in range(first, first + count)
    ]


def _batch(work: Path, policy: Path, seconds: float, log: Callable[[str], None]) -> list[dict[str, Any]]:
    """Both variants on one server per transport: repeated questions first, then distinct ones. Every ghz run
    of the distinct variant (warm-up included) gets its own DISTINCT_BATCHES messages of requests that server
    was never asked: ghz starts each run at message 0, which the previous run may have left in the memo."""
    repeated = batch_call(
        [
            {
                "principal": WRITER,
                "action": "topic.produce",
                "resource": {**TOPIC, "topic": f"persistent://acme/payments/orders-{i}"},
            }
            for i in range(BATCH_SIZE)
        ]
    )
    per_run = DISTINCT_BATCHES * BATCH_SIZE
    runs = [(t, c) for t in ("tcp", "uds") for c in (0, 1, 4, 16)]  # c=0: the warm-up
    distinct = {
        run: cycled_batch_call(_writers(k * per_run, per_run), work / f"distinct-{k}.bin")
        for k, run in enumerate(runs)
    }
    points = []
    for transport in ("tcp", "uds"):
        server = ObservedMeshgate(work / f"mb-{transport}", transport == "uds", policy)

        def body(server: ObservedMeshgate = server, transport: str = transport) -> list[dict[str, Any]]:
            out = []
            for variant in ("repeated", "distinct"):

                def call(c: int, variant: str = variant) -> Call:
                    return repeated if variant == "repeated" else distinct[(transport, c)]

                ghz_point(server.target, call(0), concurrency=4, seconds=1)  # warm-up, discarded
                out += [
                    observed_point(server, call(c), c, seconds) | {"transport": transport, "variant": variant}
                    for c in (1, 4, 16)
                ]
            return out

        for point in with_server(server, body):
            log(
                f"grpc: batch of {BATCH_SIZE}, {point['variant']} questions, over {transport}, "
                f"c={point['concurrency']}: {point['decisions_per_s']:,.0f} decisions/s, "
                f"p99 {point['latency'].get('p99', 0) * 1e3:.1f} ms, memo hits {point['memo_hit_ratio']:.1%}"
            )
            points.append(point)
    return points


def _large_policy(work: Path, seconds: float, log: Callable[[str], None]) -> dict[str, Any]:
    """meshgate at saturation with the 100k-rule generated policy, on realistic requests: AuthorizeBatch with
    the same 100 different requests every call (memo hits), then cycling through DISTINCT_BATCHES messages of
    requests that are all different and new to the server (memo misses)."""
    generated = write_policy(work / "large", 100_000)
    pool = request_pool(BATCH_SIZE, generated.tenants, seed=3)
    requests = [_to_json(req) for _, req in pool]
    per_run = DISTINCT_BATCHES * BATCH_SIZE
    unasked = _distinct_pool(2 * per_run, generated.tenants, seed=4)  # a warm-up run, then the measured one
    warm_up = cycled_batch_call(unasked[:per_run], work / "large-warm-up.bin")
    distinct = cycled_batch_call(unasked[per_run:], work / "large-batches.bin")
    server = ObservedMeshgate(work / "ml", False, generated.path)
    began = time.monotonic()

    def body() -> dict[str, Any]:
        started = time.monotonic() - began
        single = ghz_point(
            server.target,
            Call(AUTHORIZE.method, requests[0], AUTHORIZE.proto),
            concurrency=32,
            seconds=seconds,
        )
        batch = observed_point(server, batch_call(requests), 4, seconds)
        ghz_point(server.target, warm_up, concurrency=4, seconds=1)  # discarded
        batch_distinct = observed_point(server, distinct, 4, seconds)
        assert server.pid is not None
        return {
            "startup_s": started,
            "single_c32": single,
            "batch_c4": batch,
            "batch_c4_distinct": batch_distinct,
            "batch_distinct_requests": DISTINCT_BATCHES * BATCH_SIZE,
            "rss": _rss(server.pid),
        }

    result: dict[str, Any] = with_server_timeout(server, body, 600)
    fresh = result["batch_c4_distinct"]
    log(
        f"grpc: 100k rules: single {result['single_c32']['rps']:,.0f}/s, batch "
        f"{result['batch_c4']['decisions_per_s']:,.0f} decisions/s repeated, "
        f"{fresh['decisions_per_s']:,.0f} distinct (memo hits {fresh['memo_hit_ratio']:.1%}; "
        f"startup {result['startup_s']:.0f} s)"
    )
    return result


def _distinct_pool(size: int, tenants: int, seed: int) -> list[dict[str, Any]]:
    """`size` different requests of policygen's realistic mix (duplicates drawn are skipped)."""
    rng = random.Random(seed)
    seen: dict[str, dict[str, Any]] = {}
    while len(seen) < size:
        request = _to_json(sample_request(rng, tenants)[1])
        seen.setdefault(json.dumps(request, sort_keys=True), request)
    return list(seen.values())


def with_server_timeout(server: Server, body: Callable[[], Any], timeout: float) -> Any:
    server.start(timeout=timeout)
    try:
        return body()
    finally:
        server.stop()


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) * 1024
    return 0


def _to_json(req: Any) -> dict[str, Any]:
    res = req.resource
    out: dict[str, Any] = {
        "principal": req.principal,
        "action": req.action,
        "resource": {k: getattr(res, k) for k in ("tenant", "namespace", "topic") if getattr(res, k)},
    }
    if req.subscription:
        out["subscription"] = req.subscription
    return out
