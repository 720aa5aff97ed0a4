"""The service under soak: `python -m meshgate serve` as its own process, with the dev PKI and the example
policies, on loopback; plus what the soak samples from /proc (RSS, open file descriptors)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from devtools import pki as dev_pki
from devtools.ports import free_port
from devtools.service import write_config

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Service:
    process: subprocess.Popen[bytes]
    port: int
    pki: dev_pki.DevPki

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    def open_fds(self) -> int:
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)


def start(work: Path, timeout: float = 30.0) -> Service:
    pki = dev_pki.create(work / "pki")
    port = free_port()
    config = write_config(
        work / "meshgate.yaml", port=port, policy_dir=ROOT / "policies" / "examples",
        trust_bundles=[f"{dev_pki.TRUST_DOMAIN}={pki.ca_file}"], superusers=[dev_pki.BROKER_ID],
        extra={"audit": {"file": {"path": "audit.jsonl"}}},
    )  # fmt: skip
    log = (work / "meshgate.log").open("wb")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "service")}
    command = [sys.executable, "-m", "meshgate", "serve", "--config", str(config)]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    service = Service(process, port, pki)
    deadline = time.monotonic() + timeout
    while f"ready on port {port}" not in (work / "meshgate.log").read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            service.stop()
            raise RuntimeError(f"meshgate did not start; see {work / 'meshgate.log'}")
        time.sleep(0.1)
    return service
