"""`meshgate serve` refuses a plaintext gRPC listener the network can reach, starts with the opt-out only
while logging it loudly, and over mutual TLS shares the WatchRevision slots out per client certificate."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from meshgate.config.service import load_config
from meshgate.server.app import build_components, close_components, start_grpc, stop_grpc
from meshgate.v1 import meshgate_pb2 as pb
from meshgate.v1 import meshgate_pb2_grpc as pb_grpc

from devtools import pki as dev_pki
from tests.integration.conftest import EXAMPLE_POLICIES, write_config

pytestmark = pytest.mark.integration
WAIT = 10.0


def test_serve_refuses_a_plaintext_grpc_port_on_every_interface(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"policy": {"dir": str(EXAMPLE_POLICIES)}})
    serve = [sys.executable, "-m", "meshgate", "serve", "--config", str(config), "--listen", "0.0.0.0:0"]
    done = subprocess.run(
        serve, capture_output=True, text=True, timeout=30, check=False, env=dict(os.environ)
    )
    assert done.returncode == 2, done.stderr
    assert "grpc.listen: '0.0.0.0:0' is reachable from the network without mutual TLS" in done.stderr
    assert "ready on port" not in done.stdout


def test_the_opt_out_starts_and_says_so_loudly(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write_config(tmp_path, {"policy": {"dir": str(EXAMPLE_POLICIES)}})
    env = {"MESHGATE_GRPC__LISTEN": "0.0.0.0:0", "MESHGATE_GRPC__INSECURE_PLAINTEXT_NETWORK": "true"}
    components = build_components(load_config(path, env=env))
    with caplog.at_level(logging.WARNING, logger="meshgate"):
        running = start_grpc(components)
    try:
        (warning,) = [r for r in caplog.records if "INSECURE" in r.getMessage()]
        assert warning.levelno == logging.WARNING
        assert warning.getMessage().startswith(
            f"INSECURE: gRPC on 0.0.0.0:0 (port {running.port}) takes calls from the network without "
            "mutual TLS (grpc.insecure_plaintext_network: true)"
        )
    finally:
        stop_grpc(running)
        close_components(components)


class MutualTls:
    def __init__(self, pki: dev_pki.DevPki, port: int) -> None:
        self.pki = pki
        self.target = f"localhost:{port}"

    def stream(self, client: str) -> Any:
        """A WatchRevision stream on a new connection that presents `client`'s certificate."""
        credentials = grpc.ssl_channel_credentials(
            self.pki.ca_file.read_bytes(),
            self.pki.key(client).read_bytes(),
            self.pki.cert(client).read_bytes(),
        )
        channel = grpc.secure_channel(
            self.target, credentials, options=[("grpc.use_local_subchannel_pool", 1)]
        )
        return pb_grpc.AuthorizationStub(channel).WatchRevision(pb.WatchRevisionRequest(), timeout=WAIT)


@pytest.fixture
def mutual_tls(tmp_path: Path) -> Iterator[MutualTls]:
    pki = dev_pki.create(tmp_path / "pki")
    grpc_section = {
        "tls_cert": str(pki.cert("broker-server")),
        "tls_key": str(pki.key("broker-server")),
        "tls_client_ca": str(pki.ca_file),
        "watch_streams": 3,
        "watch_streams_per_client": 2,
        "watch_reserved_clients": [dev_pki.BROKER_ID],
    }
    raw = {"grpc": grpc_section, "policy": {"dir": str(EXAMPLE_POLICIES)}}
    components = build_components(load_config(write_config(tmp_path / "cfg", raw), env={}))
    running = start_grpc(components)
    yield MutualTls(pki, running.port)
    stop_grpc(running)
    close_components(components)


def _refused(stream: Any) -> str:
    with pytest.raises(grpc.RpcError) as refused:
        next(stream)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    return refused.value.details() or ""


def test_watch_slots_are_shared_per_certificate_with_the_brokers_slot_kept(mutual_tls: MutualTls) -> None:
    writer = [mutual_tls.stream("writer") for _ in range(2)]
    assert all(next(stream).revision for stream in writer)
    writer_id = dev_pki.WORKLOADS["writer"]
    assert f"client tls:{writer_id} already follows 2" in _refused(mutual_tls.stream("writer"))
    assert "1 kept for grpc.watch_reserved_clients" in _refused(mutual_tls.stream("reader"))
    broker = mutual_tls.stream("broker-client")
    assert next(broker).revision  # the broker's shim follows revisions whoever holds the rest
    for stream in (*writer, broker):
        stream.cancel()
