"""`meshgate serve` says "ready" only when it is: a taken port fails, no policy means waiting (#21)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

from tests.integration.conftest import EXAMPLE_POLICIES, MeshgateServer, StartMeshgate, write_config


def test_second_serve_on_a_taken_port_refuses_to_start(start_meshgate: StartMeshgate, tmp_path: Path) -> None:
    first: MeshgateServer = start_meshgate({})
    config = write_config(tmp_path / "second", {})
    second = subprocess.Popen(
        [sys.executable, "-m", "meshgate", "serve", "--config", str(config), "--listen", first.target],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = second.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        second.kill()
        stdout, stderr = second.communicate()
    assert second.returncode == 2, f"second server kept running: {stdout}{stderr}"
    assert "ready" not in stdout
    assert f"cannot listen on {first.target}: the address is in use" in stderr


def _serve(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "meshgate", "serve", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _read_until(process: subprocess.Popen[str], wanted: str, timeout: float = 30.0) -> str:
    """Lines of the process's output up to and including the first that contains `wanted`."""
    assert process.stdout is not None
    seen = ""
    deadline = time.monotonic() + timeout
    while wanted not in seen:
        assert time.monotonic() < deadline, f"no {wanted!r} in {timeout}s; output so far:\n{seen}"
        line = process.stdout.readline()
        assert line, f"exited ({process.wait()}) before {wanted!r}; output:\n{seen}"
        seen += line
    return seen


def test_not_ready_until_a_policy_arrives(tmp_path: Path) -> None:
    policy = tmp_path / "policies"  # not there yet: git-sync creates it after the sidecar starts
    config = write_config(tmp_path, {"policy": {"dir": str(policy), "watch": True}})
    server = _serve(config)
    try:
        before = _read_until(server, "waiting for a policy at")
        assert f"waiting for a policy at {policy} (policy.dir)" in before
        assert "ready on port" not in before
        shutil.copytree(EXAMPLE_POLICIES, policy)
        _read_until(server, "meshgate: ready on port")
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_require_at_start_makes_a_missing_policy_fatal(tmp_path: Path) -> None:
    policy = tmp_path / "empty"
    policy.mkdir()
    config = write_config(tmp_path, {"policy": {"dir": str(policy), "require_at_start": True}})
    server = _serve(config)
    output = _read_until(server, "meshgate serve:")
    assert server.wait(timeout=30) == 2
    assert "policy.dir: no valid policy in" in output and "require_at_start is on" in output
    assert "no policy documents" in output
    assert "ready" not in output.replace("require_at_start", "")
