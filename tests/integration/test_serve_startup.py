"""`meshgate serve` says "ready" only when it is: a taken port fails, no policy means waiting (#21); and a
signal stops it in order, without waiting for idle HTTP clients."""

from __future__ import annotations

import http.client
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devtools.ports import free_port
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


def test_a_taken_http_port_refuses_to_start(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        listen = f"127.0.0.1:{taken.getsockname()[1]}"
        server = _serve(write_config(tmp_path, {"http": {"listen": listen}}))
        output = _read_until(server, "meshgate serve:")
        assert server.wait(timeout=30) == 2
    assert f"http.listen: cannot listen on {listen}: Address already in use" in output
    assert "ready on port" not in output


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_serve_in_order_with_an_idle_keep_alive_connection_open(
    tmp_path: Path, stop: signal.Signals
) -> None:
    port = free_port()
    http_section = {"listen": f"127.0.0.1:{port}", "timeout_seconds": 60}  # far longer than the grace
    server = _serve(write_config(tmp_path, {"http": http_section}))
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        _read_until(server, "meshgate: ready on port")
        connection.request("GET", "/healthz")
        assert connection.getresponse().read() == b"ok\n"  # the connection stays open, idle
        started = time.monotonic()
        server.send_signal(stop)
        assert server.wait(timeout=30) == 0
        took = time.monotonic() - started
        assert server.stdout is not None
        output = server.stdout.read()
        assert connection.sock is not None and connection.sock.recv(1) == b""  # closed by the server
    finally:
        connection.close()
        if server.poll() is None:
            server.kill()
            server.wait()
    # The drain (1 s), then the stop: within the grace (5 s), which only a gRPC call in flight would use; an
    # HTTP side that waited for the idle connection would take its 60 s.
    assert 1.0 <= took < 1.0 + 5.0, f"stopped after {took:.1f}s"
    assert "shutting down: NOT_SERVING, draining 1.0s, then grace 5.0s" in output
    assert "Traceback" not in output and "ERROR" not in output


def test_a_second_signal_does_not_cut_the_shutdown_short(tmp_path: Path) -> None:
    """Ctrl-C twice, or SIGTERM then SIGINT: the shutdown under way runs to its end (under asyncio the second
    signal cancelled it mid-way: no drain, no grace, no reloader join, no audit close)."""
    server = _serve(write_config(tmp_path, {}))
    try:
        _read_until(server, "meshgate: ready on port")
        started = time.monotonic()
        server.send_signal(signal.SIGTERM)
        _read_until(server, "shutting down: NOT_SERVING")
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=30) == 0
        assert time.monotonic() - started >= 1.0  # the whole drain
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
