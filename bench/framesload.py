"""ghz's part for the frames transport: send each prepared message once, `--in-flight` calls at a time, over
one frames connection; print a JSON summary. `python -m bench.framesload --socket S --call authorize_batch
--messages FILE` (FILE as ghz -B reads it: each message's varint length, then its bytes)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

from meshgate.server.frames import METHODS
from meshgate.v1 import meshgate_pb2 as pb

from devtools.frames_client import FramesClient

BUDGET_MS = 20_000  # ghz's default call timeout


def read_messages(path: Path) -> list[bytes]:
    data, out, at = path.read_bytes(), [], 0
    while at < len(data):
        length, shift = 0, 0
        while True:
            byte = data[at]
            at += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        out.append(data[at : at + length])
        at += length
    return out


def run(socket_path: Path, field: str, bodies: list[bytes], in_flight: int) -> dict[str, object]:
    outcomes: Counter[str] = Counter()
    started = time.monotonic()
    with FramesClient(socket_path, timeout=60) as client:
        sent = pending = 0
        while sent < len(bodies) or pending:
            while pending < in_flight and sent < len(bodies):
                call = pb.FrameCall(id=sent, budget_ms=BUDGET_MS)
                getattr(call, field).SetInParent()
                getattr(call, field).MergeFromString(bodies[sent])
                client.send(call)
                sent, pending = sent + 1, pending + 1
            reply = client.receive()
            pending -= 1
            outcomes["OK" if reply.WhichOneof("reply") == field else f"error {reply.error.code}"] += 1
    return {"method": METHODS[field], "calls": len(bodies), "outcomes": dict(outcomes),
            "seconds": round(time.monotonic() - started, 3)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.framesload", description=__doc__)
    parser.add_argument("--socket", type=Path, required=True, help="the service's /path.frames")
    parser.add_argument("--call", choices=sorted(METHODS), required=True)
    parser.add_argument("--messages", type=Path, required=True)
    parser.add_argument("--in-flight", type=int, default=4)
    args = parser.parse_args(argv)
    report = run(args.socket, args.call, read_messages(args.messages), args.in_flight)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
