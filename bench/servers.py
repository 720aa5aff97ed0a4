"""The two services under load, as real processes: meshgate (`python -m meshgate serve`) and Cerbos.

Both listen on TCP loopback or a Unix socket and are pinned to one CPU; the load generator gets the other.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml

from bench import tools
from bench.env import ROOT
from devtools.ports import free_port

SERVER_CPU = 1
CLIENT_CPU = 0


class Server:
    """A child process in its own session; `stop()` ends exactly that process group."""

    name = "server"

    def __init__(self, workdir: Path, uds: bool) -> None:
        self.workdir = workdir
        self.uds = uds
        self.port = free_port()
        self.socket = workdir / f"{self.name}.sock"
        self.log = workdir / f"{self.name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def listen(self) -> str:
        return f"unix:{self.socket}" if self.uds else f"127.0.0.1:{self.port}"

    @property
    def target(self) -> str:
        return f"unix://{self.socket}" if self.uds else f"127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def start(self, timeout: float = 60.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.socket.unlink(missing_ok=True)
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                tools.pinned(SERVER_CPU, self.argv()),
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env(),
                start_new_session=True,
                cwd=self.workdir,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; see {self.log}")
            if self._accepts():
                return
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"{self.name} not ready in {timeout}s; see {self.log}")

    def _accepts(self) -> bool:
        family = socket.AF_UNIX if self.uds else socket.AF_INET
        address: str | tuple[str, int] = str(self.socket) if self.uds else ("127.0.0.1", self.port)
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            try:
                s.connect(address)
            except OSError:
                return False
        return self.ready_marker()

    def ready_marker(self) -> bool:
        return True

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


class MeshgateServer(Server):
    name = "meshgate"

    def __init__(
        self, workdir: Path, uds: bool, policy_dir: Path, superusers: list[str] | None = None
    ) -> None:
        super().__init__(workdir, uds)
        self.policy_dir = policy_dir
        self.superusers = superusers or []

    def argv(self) -> list[str]:
        config = {
            "grpc": {"listen": self.listen},
            "policy": {"dir": str(self.policy_dir), "superusers": self.superusers, "watch": False},
        }
        path = self.workdir / "meshgate.yaml"
        path.write_text(yaml.safe_dump(config))
        return [sys.executable, "-m", "meshgate", "serve", "--config", str(path), "--log-level", "WARNING"]

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MESHGATE_")}
        return env | {"PYTHONPATH": str(ROOT / "service")}

    def ready_marker(self) -> bool:
        return "ready on port" in self.log.read_text(errors="replace")


class EchoServer(Server):
    """bench/echo_server.py: the same RPC answered with a constant, nothing else; `model` "aio" or "sync"."""

    name = "echo"

    def __init__(self, workdir: Path, uds: bool, model: str = "aio") -> None:
        super().__init__(workdir, uds)
        self.model = model

    def argv(self) -> list[str]:
        return [sys.executable, "-m", "bench.echo_server", self.listen, self.model]

    def env(self) -> dict[str, str]:
        return dict(os.environ) | {"PYTHONPATH": f"{ROOT / 'service'}:{ROOT}"}

    def ready_marker(self) -> bool:
        return "ready on port" in self.log.read_text(errors="replace")


CERBOS_POLICY = """\
# The same two rules as bench/grpcload.py's meshgate policy: writers produce, readers consume.
apiVersion: api.cerbos.dev/v1
resourcePolicy:
  version: default
  resource: topic
  rules:
    - actions: ["topic.produce", "topic.lookup"]
      effect: EFFECT_ALLOW
      roles: ["writer"]
    - actions: ["topic.consume", "topic.subscribe", "topic.lookup"]
      effect: EFFECT_ALLOW
      roles: ["reader"]
"""


class CerbosServer(Server):
    name = "cerbos"

    def __init__(self, workdir: Path, uds: bool) -> None:
        super().__init__(workdir, uds)
        self.http_address = f"127.0.0.1:{free_port()}"

    def argv(self) -> list[str]:
        policies = self.workdir / "cerbos-policies"
        policies.mkdir(parents=True, exist_ok=True)
        (policies / "topic.yaml").write_text(CERBOS_POLICY)
        config = {
            "server": {"grpcListenAddr": self.listen, "httpListenAddr": self.http_address},
            "storage": {"driver": "disk", "disk": {"directory": str(policies), "watchForChanges": False}},
            "audit": {"enabled": False},
            "telemetry": {"disabled": True},
        }
        path = self.workdir / "cerbos.yaml"
        path.write_text(yaml.safe_dump(config))
        return [str(tools.cerbos()), "server", f"--config={path}", "--log-level=warn"]

    def env(self) -> dict[str, str]:
        return dict(os.environ) | {"CERBOS_NO_TELEMETRY": "1"}
