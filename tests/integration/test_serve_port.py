"""`meshgate serve` on a port another server already holds fails at once and says why (#21)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.integration.conftest import MeshgateServer, StartMeshgate, write_config


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
