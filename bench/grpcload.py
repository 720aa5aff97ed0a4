"""ghz runs against a gRPC server: one load point = one ghz process pinned to the client CPU."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from bench import tools
from bench.env import ROOT
from bench.servers import CLIENT_CPU
from bench.stats import summary

PROTO = ROOT / "proto"


@dataclass(frozen=True)
class Call:
    method: str  # package.Service/Method
    data: dict[str, Any]
    proto: Path | None = None  # None: server reflection
    decisions_per_call: int = 1
    # Count-delimited binary messages (`write_messages`) that ghz cycles through round-robin (-B: message
    # number i goes to the i-th call over all workers; every message is parsed before the clock starts).
    # Replaces `data`, which then only describes the first message.
    messages: Path | None = None


def write_messages(path: Path, message_type: type[Message], messages: list[dict[str, Any]]) -> Path:
    """The messages as ghz -B reads several: each one's varint length, then its bytes."""
    with path.open("wb") as out:
        for data in messages:
            body = json_format.ParseDict(data, message_type()).SerializeToString()
            out.write(_varint(len(body)) + body)
    return path


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def ghz_point(target: str, call: Call, *, concurrency: int, seconds: float, rps: int = 0) -> dict[str, Any]:
    argv = [
        str(tools.ghz()),
        "--insecure",
        "--call",
        call.method,
        *(["-B", str(call.messages)] if call.messages else ["-d", json.dumps(call.data)]),
        "-c",
        str(concurrency),
        "-z",
        f"{seconds}s",
        "-O",
        "json",
        "--connections",
        "1",
    ]
    if call.proto is not None:
        argv += ["--proto", str(call.proto), "-i", str(PROTO)]
    if rps:
        argv += ["-r", str(rps)]
    proc = subprocess.run(
        tools.pinned(CLIENT_CPU, [*argv, target]),
        capture_output=True,
        text=True,
        timeout=seconds + 120,
        env={"GOMAXPROCS": "1", "PATH": "/usr/bin:/bin"},
    )
    if proc.returncode != 0 and not proc.stdout.startswith("{"):
        raise RuntimeError(f"ghz failed: {proc.stderr[-500:]}")
    report = json.loads(proc.stdout)
    details = report.get("details") or []
    ok = [d["latency"] / 1e9 for d in details if d.get("status") == "OK" and not d.get("error")]
    lat = summary(ok) if ok else {}
    return {
        "concurrency": concurrency,
        "offered_rps": rps,
        "seconds": seconds,
        "count": report["count"],
        "ok": len(ok),
        "errors": len(details) - len(ok),
        # ghz -z cancels the calls in flight when the time is up; at most `concurrency` of them.
        "errors_beyond_cutoff": max(0, len(details) - len(ok) - concurrency),
        "statuses": report.get("statusCodeDistribution", {}),
        "rps": len(ok) / (report["total"] / 1e9) if report.get("total") else 0.0,
        "decisions_per_s": len(ok) * call.decisions_per_call / (report["total"] / 1e9)
        if report.get("total")
        else 0.0,
        "latency": lat,
    }
