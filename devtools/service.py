"""The meshgate service as a real process (`python -m meshgate serve`), for `make run` and the tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from devtools.ports import free_port

ROOT = Path(__file__).resolve().parent.parent
AUDIT_FILE = "audit.jsonl"


def audit_file(config: Path) -> Path:
    """The audit log a service started from `config` writes (relative paths are relative to the config)."""
    path = Path(yaml.safe_load(config.read_text())["audit"]["file"]["path"])
    return path if path.is_absolute() else config.parent / path


def write_config(
    path: Path,
    *,
    port: int,
    policy_dir: Path,
    trust_bundles: list[str],
    superusers: list[str],
    extra: dict[str, object] | None = None,
) -> Path:
    config: dict[str, object] = {
        "grpc": {"listen": f"127.0.0.1:{port}"},
        "policy": {"dir": str(policy_dir), "superusers": superusers},
        "identity": {"trust_bundles": trust_bundles},
        "audit": {"file": {"path": AUDIT_FILE}},  # next to the config file; see `audit_file()`
    }
    for section, values in (extra or {}).items():
        merged = dict(config.get(section, {}))  # type: ignore[call-overload]
        merged.update(values)
        config[section] = merged
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


class MeshgateProcess:
    """`start()` waits until the gRPC port answers; `stop()` sends SIGTERM (graceful) then SIGKILL."""

    def __init__(self, config: Path, log: Path, port: int | None = None, socket: Path | None = None) -> None:
        """Listens on `socket` (a Unix domain socket, as deployed beside a broker) when given, else on
        127.0.0.1:`port`."""
        self.config = config
        self.log = log
        self.socket = socket
        self.port = port or free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def target(self) -> str:
        return f"unix:{self.socket}" if self.socket else f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        """The running service's process id (to pin it, read its CPU time or profile it)."""
        if self._process is None:
            raise RuntimeError("meshgate is not running")
        return self._process.pid

    def start(self, timeout: float = 30.0) -> None:
        offset = self.log.stat().st_size if self.log.exists() else 0
        env = {**os.environ, "PYTHONPATH": str(ROOT / "service"), "MESHGATE_GRPC__LISTEN": self.target}
        with self.log.open("ab") as out:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "meshgate", "serve", "--config", str(self.config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"meshgate exited with {self._process.returncode}; see {self.log}")
            ready = "meshgate: ready on port" if self.socket else f"ready on port {self.port}"
            if ready in self.log.read_text(errors="replace")[offset:]:
                return
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"meshgate not ready in {timeout}s; see {self.log}")

    def stop(self, *, kill: bool = False) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGKILL if kill else signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
