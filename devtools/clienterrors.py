"""What Pulsar clients see when the shim denies, cannot decide, or cannot reach the service (issue #22).

`python -m devtools.clienterrors [--line 4.0] [--timeout 10] [--clients python,java]` starts a real
standalone broker with the shim pointed at `devtools.fault_service` (a stand-in service whose answer per
action a run sets: deny, slow past the deadline, busy, or stopped), then, for each client, each stage
(connect, lookup, producer creation, subscribe) and each fault, opens a client, makes one connection work
first, sets the fault and tries once more. It prints one JSON line per case and, at the end, the Markdown
tables of docs/shim.md: the error the client raised, how long it took, and how often the service was asked
for that stage (more than once: the client or the shim asked again); then the text the broker sent with the
error, as the client can read it (the Java exception's message; for Python, whose exception carries only
the error's name, the line its client log writes).

The clients are the Python `pulsar-client` (C++ core) and the Java client from the broker's own classpath
(`devtools/java/ClientProbe.java`, compiled at run time). Minutes per client; not part of `make test`.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import pulsar

from devtools import pki as dev_pki
from devtools.broker import BrokerSettings, StandaloneBroker, classpath_file
from devtools.fault_service import AUTHENTICATE, BUSY, DENY, SLOW, FaultService

ROOT = Path(__file__).resolve().parent.parent
PROBE = ROOT / "devtools" / "java" / "ClientProbe.java"
WRITER = "spiffe://meshgate.test/ns/payments/sa/writer"  # the fault service takes a token as the principal
STAGES = {
    "connect": AUTHENTICATE,
    "lookup": "topic.lookup",
    "produce": "topic.produce",
    "subscribe": "topic.consume",
}
DOWN = "down"
FAULTS = {
    DENY: "(a) denies",
    SLOW: "(b) cannot decide in time",
    DOWN: "(c) cannot reach",
    BUSY: "busy (shed)",
}


class Probe(Protocol):
    def run(self, command: str) -> dict[str, Any]: ...

    def close(self) -> None: ...


# How the C++ core logs the text of a broker's error: a command's error response, a lookup's failure.
SERVER_TEXT = re.compile(r"Received error response from server: \w+ \((.*)\) -- req_id|error: \w+ msg: (.*)$")


class ClientLog(logging.Handler):
    """Keeps the Python client's log lines (its C++ core logs through a `logging.Logger`)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def server_text(self) -> str:
        """The text of the last error the broker sent, as the client logged it ("" when none)."""
        for line in reversed(self.lines):
            found = SERVER_TEXT.search(line)
            if found:
                return found.group(1) or found.group(2) or ""
        return ""


# One logger for every client of the process: the C++ core keeps logging to the first one a client was given.
CLIENT_LOG = ClientLog()
_LOGGER = logging.getLogger("clienterrors.python")
_LOGGER.addHandler(CLIENT_LOG)
_LOGGER.setLevel(logging.INFO)
_LOGGER.propagate = False


class PythonProbe:
    def __init__(self, url: str, timeout: int) -> None:
        self._client = pulsar.Client(
            url,
            authentication=pulsar.AuthenticationToken(WRITER),
            operation_timeout_seconds=timeout,
            connection_timeout_ms=timeout * 1000,
            logger=_LOGGER,
        )
        self._open: list[Any] = []

    def run(self, command: str) -> dict[str, Any]:
        verb, *args = command.split()
        CLIENT_LOG.lines.clear()
        began = time.monotonic()
        try:
            if verb == "produce":
                producer = self._client.create_producer(args[0])
                producer.send(b"m")
                self._open.append(producer)
            else:
                self._open.append(self._client.subscribe(args[0], args[1]))
            return {"ok": True, "seconds": time.monotonic() - began}
        except pulsar.PulsarException as error:
            seconds = time.monotonic() - began
            return {
                "ok": False, "error": type(error).__name__, "seconds": seconds, "exception": str(error),
                "message": CLIENT_LOG.server_text(),
            }  # fmt: skip

    def close(self) -> None:
        self._client.close()


class JavaProbe:
    def __init__(self, url: str, timeout: int, classes: Path, line: str) -> None:
        classpath = f"{classes}:{classpath_file(line).read_text().strip()}"
        self._process = subprocess.Popen(
            ["java", "-cp", classpath, "ClientProbe", url, WRITER, str(timeout)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def run(self, command: str) -> dict[str, Any]:
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(command + "\n")
        self._process.stdin.flush()
        for line in self._process.stdout:  # the client logs to stdout too
            if line.startswith('{"ok"'):
                return dict(json.loads(line))
        raise RuntimeError("the Java probe exited")

    def close(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        self._process.wait(30)


def _topic() -> str:
    return f"persistent://acme/payments/probe-{uuid.uuid4().hex[:8]}"


def one_case(make: Any, fault: FaultService, stage: str, mode: str) -> dict[str, Any]:
    """One fresh client: (unless `connect`) a first producer that works, then the fault, then one more try."""
    probe: Probe = make()
    try:
        if stage != "connect":
            first = probe.run(f"produce {_topic()}")
            assert first["ok"], f"the fault-free warm-up failed: {first}"
        fault.reset()
        if mode == DOWN:
            fault.stop()
        else:
            fault.set(STAGES[stage], mode)
        command = f"subscribe {_topic()} probe" if stage == "subscribe" else f"produce {_topic()}"
        result = probe.run(command)
        result["asked"] = None if mode == DOWN else fault.count(STAGES[stage])
        return result
    finally:
        fault.reset()
        if mode == DOWN:
            fault.start()
        probe.close()


@contextmanager
def _rig(line: str, work: Path) -> Iterator[tuple[StandaloneBroker, FaultService]]:
    pki = dev_pki.create(work / "pki")
    fault = FaultService(dev_pki.BROKER_ID)
    fault.start()
    # Without the lookup prefetch, each stage is its own question and can fail alone.
    settings = BrokerSettings(
        pki=pki, meshgate_target=fault.target, workdir=work / "broker", line=line, revoke_sessions=False,
        shim_log_level="info", extra={"meshgatePrefetchOnLookup": "false"},
    )  # fmt: skip
    broker = StandaloneBroker(settings)
    try:
        broker.start()
        broker.create_namespaces("acme/payments")
        yield broker, fault
    finally:
        broker.stop()
        fault.stop()


def _compile_probe(line: str, classes: Path) -> None:
    classpath = classpath_file(line).read_text().strip()
    subprocess.run(["javac", "-d", str(classes), "-cp", classpath, str(PROBE)], check=True, timeout=300)


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown: one row per client and stage, one column per fault."""
    out = ["| client | stage | " + " | ".join(FAULTS.values()) + " |", "|---|---|" + "---|" * len(FAULTS)]
    cells: dict[tuple[str, str], dict[str, str]] = {}
    for row in rows:
        asked = "" if row["asked"] is None else f", asked {row['asked']}x"
        outcome = "ok" if row["ok"] else row["error"]
        cells.setdefault((row["client"], row["stage"]), {})[row["mode"]] = (
            f"{outcome} ({row['seconds']:.1f} s{asked})"
        )
    for (client, stage), by_mode in cells.items():
        out.append(f"| {client} | {stage} | " + " | ".join(by_mode.get(m, "") for m in FAULTS) + " |")
    return "\n".join(out)


def texts(rows: list[dict[str, Any]]) -> str:
    """Markdown: the text of the broker's error as the client can read it, per client, stage and fault."""
    out = ["| client | stage | " + " | ".join(FAULTS.values()) + " |", "|---|---|" + "---|" * len(FAULTS)]
    cells: dict[tuple[str, str], dict[str, str]] = {}
    for row in rows:
        text = "" if row["ok"] else str(row.get("message") or "(none)")
        cells.setdefault((row["client"], row["stage"]), {})[row["mode"]] = text.replace("|", "\\|")
    for (client, stage), by_mode in cells.items():
        out.append(f"| {client} | {stage} | " + " | ".join(by_mode.get(m, "") for m in FAULTS) + " |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--line", default="4.0", choices=["4.0", "4.2"])
    parser.add_argument("--timeout", type=int, default=10, help="the clients' operation timeout, seconds")
    parser.add_argument("--clients", default="python,java")
    parser.add_argument("--workdir", type=Path, help="keep the broker's files and log here (default: temp)")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="meshgate-clienterrors-") as tmp:
        work = args.workdir or Path(tmp)
        _compile_probe(args.line, work / "classes")
        with _rig(args.line, work) as (broker, fault):
            makers = {
                "python": lambda: PythonProbe(broker.service_url, args.timeout),
                "java": lambda: JavaProbe(broker.service_url, args.timeout, work / "classes", args.line),
            }
            for client in args.clients.split(","):
                for stage in STAGES:
                    for mode in FAULTS:
                        row = {"client": client, "stage": stage, "mode": mode}
                        row |= one_case(makers[client], fault, stage, mode)
                        print(json.dumps(row), flush=True)
                        rows.append(row)
    print(table(rows))
    print()
    print(texts(rows))


if __name__ == "__main__":
    if shutil.which("javac") is None:
        sys.exit("javac is needed for the Java client probe")
    main()
