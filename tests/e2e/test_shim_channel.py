"""The channel from the shim to the service (issue #6): a Unix domain socket (through the broker's own
netty and its epoll native library) with mutual TLS on top, and a service that cannot prove itself
with a certificate from the configured CA gets no questions, so nothing is allowed while it answers.

The module stops the session broker, runs its own broker whose shim reaches meshgate at `unix:<socket>`
with mTLS, and restarts the session broker afterwards (one broker at a time on a 2-core machine).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pulsar
import pytest

from devtools import pki as dev_pki
from devtools.broker import BrokerSettings, StandaloneBroker
from devtools.devca import DevCA, LeafSpec, write_leaf
from devtools.service import MeshgateProcess, write_config
from tests.e2e.conftest import copy_policies, instead_of, produce_once

pytestmark = pytest.mark.e2e
UNIX_PORT = 1  # what grpc reports as the bound "port" of a unix: listener


class UnixMeshgate(MeshgateProcess):
    """`meshgate serve` listening on a Unix domain socket."""

    def __init__(self, config: Path, log: Path, socket: Path) -> None:
        super().__init__(config, log, port=UNIX_PORT)
        self.socket = socket

    @property
    def target(self) -> str:
        return f"unix:{self.socket}"


@dataclass
class Channel:
    broker: StandaloneBroker
    work: Path
    socket: Path
    service: MeshgateProcess


def _service(work: Path, pki: dev_pki.DevPki, socket: Path, cert: Path, key: Path, name: str) -> UnixMeshgate:
    config = write_config(
        work / f"{name}.yaml",
        port=0,
        policy_dir=copy_policies(work / f"{name}-policies"),
        trust_bundles=[f"{dev_pki.TRUST_DOMAIN}={pki.ca_file}"],
        superusers=[dev_pki.BROKER_ID],
        extra={"grpc": {"tls_cert": str(cert), "tls_key": str(key), "tls_client_ca": str(pki.ca_file)}},
    )
    return UnixMeshgate(config, work / f"{name}.log", socket)


@pytest.fixture(scope="module")
def channel(
    broker: StandaloneBroker, pki: dev_pki.DevPki, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Channel]:
    work = tmp_path_factory.mktemp("channel")
    socket = work / "meshgate.sock"
    # The service presents the dev CA's localhost certificate; the shim checks it against meshgateTlsCaFile
    # and presents the broker's client SVID, which the service requires (grpc.tls_client_ca).
    service = _service(work, pki, socket, pki.cert("broker-server"), pki.key("broker-server"), "meshgate")
    service.start()
    settings = BrokerSettings(
        pki=pki,
        meshgate_target=service.target,
        workdir=work / "broker",
        line=broker.settings.line,
        extra={
            "meshgateTlsCertFile": str(pki.cert("broker-client")),
            "meshgateTlsKeyFile": str(pki.key("broker-client")),
            "meshgateTlsCaFile": str(pki.ca_file),
        },
    )
    try:
        with instead_of(broker, settings) as own:
            yield Channel(own, work, socket, service)
    finally:
        service.stop()


def _produce(channel: Channel, pki: dev_pki.DevPki, name: str) -> None:
    produce_once(channel.broker, pki, name, "chan")


def test_unix_socket_with_mutual_tls_carries_every_decision(channel: Channel, pki: dev_pki.DevPki) -> None:
    _produce(channel, pki, "writer")
    with pytest.raises(pulsar.AuthorizationError):
        _produce(channel, pki, "reader")
    assert channel.broker.admin_get("/admin/v2/namespaces/acme", identity="viewer")[0] == 200
    log = channel.broker.log.read_text(errors="replace")
    assert "epoll native transport" not in log, "the broker netty's epoll library did not load"
    assert f"following policy revisions from unix:{channel.socket}" in log
    assert 'transport="frames"' not in channel.broker.metrics(), "with TLS the shim never uses frames"


def test_a_service_that_cannot_prove_itself_gets_no_questions(channel: Channel, pki: dev_pki.DevPki) -> None:
    stranger_ca = DevCA("impostor CA")
    cert, key = write_leaf(
        channel.work / "impostor-pki",
        "impostor",
        stranger_ca.issue(LeafSpec(dns=["localhost"], common_name="localhost")),
        stranger_ca,
    )
    impostor = _service(channel.work, pki, channel.socket, cert, key, "impostor")
    channel.service.stop()
    impostor.start()
    try:
        # The impostor would allow the writer (same policies), but its certificate does not chain to
        # meshgateTlsCaFile: the handshake fails, the shim denies, the client is refused.
        with pytest.raises(pulsar.PulsarException):
            _produce(channel, pki, "writer")
    finally:
        impostor.stop()
        channel.service.start()
    deadline = time.monotonic() + 10
    while True:  # the genuine service is trusted again once the shim reconnects
        try:
            _produce(channel, pki, "writer")
            break
        except pulsar.PulsarException:
            assert time.monotonic() < deadline, "the genuine service was not used again"
            time.sleep(0.2)
