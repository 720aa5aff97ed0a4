"""Part 2: meshgate over gRPC against Cerbos 0.55 on an equivalent two-rule RBAC policy.

Same load generator (ghz, pinned to CPU 0 with GOMAXPROCS=1), same machine, same run; each server runs
alone, pinned to CPU 1 (Cerbos's Go runtime then uses one P). TCP loopback and a Unix socket. Load points:
saturation at concurrency 1 and 32, then fixed offered loads at concurrency 32. Plus meshgate's
AuthorizeBatch (100 decisions per call) and, in the full run, meshgate with the 100k-rule policy.
"""

from __future__ import annotations

import json
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import tools
from bench.grpcload import PROTO, Call, ghz_point
from bench.policygen import request_pool, write_policy
from bench.servers import CerbosServer, EchoServer, MeshgateServer, Server

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


def batch_call(requests: list[dict[str, Any]]) -> Call:
    return Call(
        "meshgate.v1.Authorization/AuthorizeBatch",
        {"requests": requests},
        AUTHORIZE.proto,
        decisions_per_call=len(requests),
    )


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
) -> list[dict]:
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
                ("python-echo", lambda u=uds: EchoServer(work / f"e-{u}", u), AUTHORIZE),
            ):
                log(f"grpc: {name} over {transport}")
                server = make()

                def body(server: Server = server, call: Call = call, name: str = name) -> list[dict]:
                    if isinstance(server, CerbosServer) and not cerbos_allows(server):
                        raise RuntimeError("the Cerbos policy does not allow the benchmark request")
                    return series(server, call, seconds, loads, log)

                out["runs"][f"{name}/{transport}"] = with_server(server, body)
        out["batch"] = _batch(work, policy, seconds, log)
        if not quick:
            out["large_policy"] = _large_policy(work, seconds, log)
    return out


def _batch(work: Path, policy: Path, seconds: float, log: Callable[[str], None]) -> list[dict]:
    requests = [
        {
            "principal": WRITER,
            "action": "topic.produce",
            "resource": {**TOPIC, "topic": f"persistent://acme/payments/orders-{i}"},
        }
        for i in range(BATCH_SIZE)
    ]
    call = batch_call(requests)
    points = []
    for transport in ("tcp", "uds"):
        server = MeshgateServer(work / f"mb-{transport}", transport == "uds", policy)

        def body(server: Server = server, transport: str = transport) -> list[dict]:
            ghz_point(server.target, call, concurrency=4, seconds=1)
            return [
                ghz_point(server.target, call, concurrency=c, seconds=seconds) | {"transport": transport}
                for c in (1, 4, 16)
            ]

        for point in with_server(server, body):
            log(
                f"grpc: batch of {BATCH_SIZE} over {transport}, c={point['concurrency']}: "
                f"{point['decisions_per_s']:,.0f} decisions/s, "
                f"p99 {point['latency'].get('p99', 0) * 1e3:.1f} ms"
            )
            points.append(point)
    return points


def _large_policy(work: Path, seconds: float, log: Callable[[str], None]) -> dict[str, Any]:
    """meshgate at saturation with the 100k-rule generated policy, cycling realistic requests (ghz -d is one
    message, so the batch call carries 100 different requests)."""
    generated = write_policy(work / "large", 100_000)
    pool = request_pool(BATCH_SIZE, generated.tenants, seed=3)
    requests = [_to_json(req) for _, req in pool]
    server = MeshgateServer(work / "ml", False, generated.path)
    began = time.monotonic()

    def body() -> dict[str, Any]:
        started = time.monotonic() - began
        single = ghz_point(
            server.target,
            Call(AUTHORIZE.method, requests[0], AUTHORIZE.proto),
            concurrency=32,
            seconds=seconds,
        )
        batch = ghz_point(server.target, batch_call(requests), concurrency=4, seconds=seconds)
        assert server.pid is not None
        return {"startup_s": started, "single_c32": single, "batch_c4": batch, "rss": _rss(server.pid)}

    result = with_server_timeout(server, body, 600)
    log(
        f"grpc: 100k rules: single {result['single_c32']['rps']:,.0f}/s, "
        f"batch {result['batch_c4']['decisions_per_s']:,.0f} decisions/s "
        f"(startup {result['startup_s']:.0f} s)"
    )
    return result


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
