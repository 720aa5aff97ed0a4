"""Replay of a reconnect storm's service traffic, without a broker: `python -m bench.stormreplay`.

What the broker shim sends `meshgate serve` per storm client (coalesced into batch calls over a Unix
socket): one `AuthenticateBatch` item with a never-seen RS256 token of the Kubernetes-token issuer, then one
`AuthorizeBatch` of three items from that client: `topic.lookup` with the token as `credential`, and
`topic.produce` + `topic.consume` marked `prefetch` (same credential). Every principal is new, so each
token is verified once and each decision misses the memo; the audit file sink writes every record.

The service runs as in bench/brokerenv.py (`running()`: same issuer, JWKS server, policy, config), pinned to
`SERVER_CPU`; ghz, pinned to `CLIENT_CPU`, sends each prepared message exactly once (`-n` = messages) with
4 calls in flight (the shim's `meshgateMaxCallsInFlight`); with `--transport frames`, `bench.framesload`
does the same over the service's frames socket (docs/frames.md) instead. The CPU the service process used
over each phase comes from /proc/<pid>/stat (utime + stime, all threads). `--profile` runs py-spy on the
service instead of measuring.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from meshgate.v1 import meshgate_pb2 as pb

from bench import tools
from bench.brokerenv import ISSUER, NAMESPACE, POLICY, TD, TENANT, Keys, jwks_server, principal
from bench.grpcload import PROTO, write_messages
from bench.servers import CLIENT_CPU, SERVER_CPU
from devtools import pki as dev_pki
from devtools.service import MeshgateProcess, write_config

IN_FLIGHT = 4
BROKER_ID = "standalone-bench:8080"
_TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Phase:
    method: str  # package.Service/Method
    messages: Path
    calls: int


@dataclass(frozen=True)
class Measured:
    cpu_seconds: float
    wall_seconds: float
    calls: int


def cpu_seconds(pid: int) -> float:
    """utime + stime of every thread of `pid` so far (fields 14 and 15 of /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _peer(i: int) -> dict[str, str]:
    return {"address": f"10.0.{i // 250 % 250}.{i % 250 + 1}:{40000 + i % 20000}", "transport": "binary"}


def authenticate_item(token: str, i: int) -> dict[str, Any]:
    peer = _peer(i) | {"auth_method": "token"}
    return {"credential": {"token": token}, "peer": peer, "request_id": str(uuid.uuid4())}


def authorize_items(token: str, i: int) -> list[dict[str, Any]]:
    """The lookup and its two prefetch companions, as the shim's `Decider` builds them."""
    resource = {"tenant": TENANT, "namespace": NAMESPACE, "topic": f"persistent://{NAMESPACE}/storm-{i}"}
    base = {
        "principal": principal(i),
        "resource": resource,
        "credential": {"token": token},
        "peer": _peer(i) | {"auth_method": "token"},
        "broker_id": BROKER_ID,
    }
    lookup = base | {"action": "topic.lookup", "request_id": str(uuid.uuid4())}
    follow = [base | {"action": a, "prefetch": True, "request_id": str(uuid.uuid4())} for a in _FOLLOWERS]
    return [lookup, *follow]


_FOLLOWERS = ("topic.produce", "topic.consume")


def storm_phases(keys: Keys, clients: range, batch: int, workdir: Path) -> tuple[Phase, Phase]:
    """The messages of `clients`, `batch` clients' items per call, as ghz -B files."""
    tokens = [(i, keys.token("meshgate", i)) for i in clients]
    groups = [tokens[n : n + batch] for n in range(0, len(tokens), batch)]
    authn = [{"requests": [authenticate_item(t, i) for i, t in g]} for g in groups]
    authz = [{"requests": [item for i, t in g for item in authorize_items(t, i)]} for g in groups]
    tag = f"{clients.start}-{batch}"
    return (
        Phase(
            "meshgate.v1.Authentication/AuthenticateBatch",
            write_messages(workdir / f"authn-{tag}.bin", pb.AuthenticateBatchRequest, authn),
            len(authn),
        ),
        Phase(
            "meshgate.v1.Authorization/AuthorizeBatch",
            write_messages(workdir / f"authz-{tag}.bin", pb.AuthorizeBatchRequest, authz),
            len(authz),
        ),
    )


def send(service: MeshgateProcess, phase: Phase, transport: str = "grpc") -> dict[str, Any]:
    """Every message of `phase` once, IN_FLIGHT calls at a time, over `transport`; the load tool's summary."""
    if transport == "frames":
        return send_frames(service, phase)
    target = _target(service)
    argv = [
        str(tools.ghz()), "--insecure", "--call", phase.method, "-B", str(phase.messages),
        "-n", str(phase.calls), "-c", str(IN_FLIGHT), "--connections", "1", "-O", "json",
        "--proto", str(PROTO / "meshgate" / "v1" / "meshgate.proto"), "-i", str(PROTO), target,
    ]  # fmt: skip
    proc = subprocess.run(
        tools.pinned(CLIENT_CPU, argv),
        capture_output=True,
        text=True,
        timeout=300,
        env={"GOMAXPROCS": "1", "PATH": "/usr/bin:/bin"},
    )
    if not proc.stdout.startswith("{"):
        raise RuntimeError(f"ghz failed: {proc.stderr[-500:]}")
    report: dict[str, Any] = json.loads(proc.stdout)
    if report.get("statusCodeDistribution") != {"OK": phase.calls}:
        raise RuntimeError(f"{phase.method}: {report.get('statusCodeDistribution')}")
    return report


def send_frames(service: MeshgateProcess, phase: Phase) -> dict[str, Any]:
    if service.socket is None:
        raise RuntimeError("the frames transport needs the service on a Unix socket")
    field = "authenticate_batch" if phase.method.endswith("/AuthenticateBatch") else "authorize_batch"
    argv = [
        sys.executable, "-m", "bench.framesload", "--socket", f"{service.socket}.frames", "--call", field,
        "--messages", str(phase.messages), "--in-flight", str(IN_FLIGHT),
    ]  # fmt: skip
    proc = subprocess.run(tools.pinned(CLIENT_CPU, argv), capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"framesload failed: {proc.stderr[-500:]}")
    report: dict[str, Any] = json.loads(proc.stdout)
    if report["outcomes"] != {"OK": phase.calls}:
        raise RuntimeError(f"{phase.method}: {report['outcomes']}")
    return report


def measure(service: MeshgateProcess, phase: Phase, transport: str = "grpc", settle: float = 0.3) -> Measured:
    """Service CPU over one phase; `settle` lets the audit writer finish the phase's records."""
    pid = service.pid
    cpu0, wall0 = cpu_seconds(pid), time.monotonic()
    send(service, phase, transport)
    time.sleep(settle)
    return Measured(cpu_seconds(pid) - cpu0, time.monotonic() - wall0 - settle, phase.calls)


def _target(service: MeshgateProcess) -> str:
    return f"unix://{service.socket}" if service.socket else service.target


def storm_config(workdir: Path, jwks_url: str) -> Path:
    """The service config of bench/brokerenv.py's `running()`: issuer, policy, trust bundle, super-user."""
    pki = dev_pki.create(workdir / "pki")
    policy_dir = workdir / "policies"
    policy_dir.mkdir(parents=True, exist_ok=True)
    (policy_dir / "bench.yaml").write_text(yaml.safe_dump(POLICY, sort_keys=False))
    issuer = {
        "issuer": ISSUER, "jwks_url": jwks_url, "audiences": ["pulsar"], "kind": "kubernetes",
        "trust_domain": TD,
    }  # fmt: skip
    return write_config(
        workdir / "meshgate.yaml",
        port=0,
        policy_dir=policy_dir,
        trust_bundles=[f"{TD}={pki.ca_file}"],
        superusers=[dev_pki.BROKER_ID],
        extra={"oidc": {"issuers": [issuer]}, "policy": {"watch": False}},
    )


@contextmanager
def storm_service(workdir: Path, keys: Keys) -> Iterator[MeshgateProcess]:
    """`meshgate serve` on a Unix socket with `storm_config`, pinned to SERVER_CPU (every thread)."""
    with jwks_server(keys.jwks()) as jwks_url:
        config = storm_config(workdir, jwks_url)
        service = MeshgateProcess(config, workdir / "meshgate.log", socket=workdir / "meshgate.sock")
        service.start()
        try:
            subprocess.run(
                ["taskset", "-a", "-p", "-c", str(SERVER_CPU), str(service.pid)],
                check=True,
                capture_output=True,
            )
            yield service
        finally:
            service.stop()


@contextmanager
def profiling(pid: int, out: Path) -> Iterator[None]:
    """py-spy on `pid` (all threads, 200 Hz, pinned to the client CPU) while the body runs. Only samples of
    the thread holding the GIL (`--gil`): this VM reports waiting threads as running, so without it the
    idle workers' `queue.get` fills the profile."""
    py_spy = Path(sys.executable).parent / "py-spy"
    argv = [str(py_spy), "record", "-p", str(pid), "-r", "200", "--threads", "--gil", "-f", "raw"]
    argv += ["-o", str(out)]
    spy = subprocess.Popen(tools.pinned(CLIENT_CPU, argv), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)  # attached
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=60)


def replay(
    clients: int, batches: list[int], runs: int, profile: Path | None, transport: str = "grpc"
) -> list[dict[str, Any]]:
    keys = Keys()
    results = []
    with tempfile.TemporaryDirectory(prefix="meshgate-stormreplay-") as tmp:
        work = Path(tmp)
        with storm_service(work, keys) as service:
            next_client = 0

            def phases(count: int, batch: int) -> tuple[Phase, Phase]:
                nonlocal next_client
                first, next_client = next_client, next_client + count
                return storm_phases(keys, range(first, first + count), batch, work)

            for phase in phases(300, 2):  # warm-up: first calls, imports, JWKS; discarded
                send(service, phase, transport)
            plan = [(batch, run) for run in range(runs) for batch in batches]
            for batch, run in plan:
                authn, authz = phases(clients, batch)
                if profile is not None:
                    with profiling(service.pid, profile.with_suffix(f".b{batch}.r{run}.txt")):
                        measured = [measure(service, authn, transport), measure(service, authz, transport)]
                else:
                    measured = [measure(service, authn, transport), measure(service, authz, transport)]
                results.append(_row(clients, batch, run, measured) | {"transport": transport})
                print(_line(results[-1]), flush=True)
    return results


def _row(clients: int, batch: int, run: int, measured: list[Measured]) -> dict[str, Any]:
    authn, authz = measured
    cpu = authn.cpu_seconds + authz.cpu_seconds
    return {
        "clients": clients,
        "batch": batch,
        "run": run,
        "cpu_s": round(cpu, 3),
        "us_per_client": round(cpu / clients * 1e6),
        "authn_us_per_call": round(authn.cpu_seconds / authn.calls * 1e6),
        "authz_us_per_call": round(authz.cpu_seconds / authz.calls * 1e6),
        "authn_us_per_client": round(authn.cpu_seconds / clients * 1e6),
        "authz_us_per_client": round(authz.cpu_seconds / clients * 1e6),
        "wall_s": round(authn.wall_seconds + authz.wall_seconds, 2),
        "load": os.getloadavg()[0],
    }


def _line(row: dict[str, Any]) -> str:
    return (
        f"{row['transport']} batch {row['batch']} run {row['run']}: {row['us_per_client']} us CPU per client "
        f"(authn {row['authn_us_per_client']} + authz {row['authz_us_per_client']}; per call "
        f"{row['authn_us_per_call']} / {row['authz_us_per_call']}), {row['cpu_s']} s CPU, "
        f"{row['wall_s']} s wall, load {row['load']:.2f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stormreplay", description=__doc__)
    parser.add_argument("--clients", type=int, default=3000, help="new clients per measured storm")
    parser.add_argument("--batch", default="1,2,4", help="clients' items per call, comma-separated")
    parser.add_argument("--runs", type=int, default=2, help="storms per batch size (interleaved)")
    parser.add_argument("--profile", type=Path, help="py-spy raw output prefix instead of a clean measure")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument(
        "--transport", choices=("grpc", "frames"), default="grpc", help="ghz over gRPC, or the frames socket"
    )
    args = parser.parse_args(argv)
    batches = [int(b) for b in args.batch.split(",")]
    rows = replay(args.clients, batches, args.runs, args.profile, args.transport)
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
