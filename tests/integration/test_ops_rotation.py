"""The gRPC serving certificate rotated the Kubernetes way (a `..data` symlink swap) under load: every call
succeeds, new connections get the new certificate, a mismatched pair keeps the old one."""

from __future__ import annotations

import os
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from meshgate.config.service import load_config
from meshgate.server.app import (
    Components,
    RunningServer,
    build_components,
    close_components,
    start_grpc,
    stop_grpc,
)
from meshgate.v1 import meshgate_pb2_grpc as pb_grpc

from devtools import pki as dev_pki
from devtools.devca import Issued, LeafSpec
from tests.integration.conftest import EXAMPLE_POLICIES, write_config
from tests.integration.ops_support import WRITER, authorize_request

pytestmark = pytest.mark.integration

SERVING = LeafSpec(dns=["localhost"], ips=["127.0.0.1"], common_name="localhost")


class SecretMount:
    """A Kubernetes Secret volume: `tls.crt -> ..data/tls.crt`, `..data -> ..vN`, swapped atomically."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True)
        self._version = 0
        for name in ("tls.crt", "tls.key"):
            (root / name).symlink_to(Path("..data") / name)

    def publish(self, cert_pem: bytes, key_pem: bytes) -> None:
        self._version += 1
        version = self.root / f"..v{self._version}"
        version.mkdir()
        (version / "tls.crt").write_bytes(cert_pem)
        (version / "tls.key").write_bytes(key_pem)
        staging = self.root / "..data_tmp"
        staging.symlink_to(version.name)
        os.replace(staging, self.root / "..data")


@dataclass
class TlsServer:
    components: Components
    running: RunningServer
    pki: dev_pki.DevPki

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.running.port}"

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            self.pki.ca_file.read_bytes(),
            self.pki.key("writer").read_bytes(),
            self.pki.cert("writer").read_bytes(),
        )

    def served_certificate(self) -> x509.Certificate:
        """The certificate a brand-new TLS connection is given now."""
        context = ssl.create_default_context(cafile=str(self.pki.ca_file))
        context.load_cert_chain(str(self.pki.cert("writer")), str(self.pki.key("writer")))
        context.set_alpn_protocols(["h2"])
        with (
            socket.create_connection(("127.0.0.1", self.running.port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            der = tls.getpeercert(binary_form=True)
        assert der is not None
        return x509.load_der_x509_certificate(der)


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[TlsServer, SecretMount, list[Issued]]]:
    pki = dev_pki.create(tmp_path / "pki")
    leaves = [pki.ca.issue(SERVING) for _ in range(2)]
    mount = SecretMount(tmp_path / "secret")
    mount.publish(leaves[0].cert_pem(), leaves[0].key_pem())
    grpc_section = {
        "tls_cert": str(mount.root / "tls.crt"),
        "tls_key": str(mount.root / "tls.key"),
        "tls_client_ca": str(pki.ca_file),
    }
    raw = {"grpc": grpc_section, "policy": {"dir": str(EXAMPLE_POLICIES)}}
    components = build_components(load_config(write_config(tmp_path / "cfg", raw), env={}))
    running = start_grpc(components)
    yield TlsServer(components, running, pki), mount, leaves
    stop_grpc(running)
    close_components(components)


class Load:
    """Threads calling Authorize until stopped: three on long-lived channels, one reconnecting per call."""

    def __init__(self, server: TlsServer) -> None:
        self._server = server
        self._stop = threading.Event()
        self.calls = 0
        self.failures: list[str] = []
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, args=(fresh,)) for fresh in (False, False, False, True)
        ]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)

    def _channel(self) -> grpc.Channel:
        # A local subchannel pool: a new channel really opens a new connection (a new handshake).
        options = [("grpc.use_local_subchannel_pool", 1)]
        return grpc.secure_channel(self._server.target, self._server.credentials(), options=options)

    def _run(self, fresh: bool) -> None:
        channel = self._channel()
        try:
            while not self._stop.is_set():
                if fresh:
                    channel.close()
                    channel = self._channel()
                self._call(channel)
        finally:
            channel.close()

    def _call(self, channel: grpc.Channel) -> None:
        try:
            answer = pb_grpc.AuthorizationStub(channel).Authorize(
                authorize_request(WRITER, "topic.produce"), timeout=5
            )
            assert answer.decision.allowed
        except Exception as err:
            with self._lock:
                self.failures.append(repr(err))
        with self._lock:
            self.calls += 1


def _der(leaf: Issued) -> bytes:
    return leaf.cert.public_bytes(Encoding.DER)


def _wait_for(check: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_serving_certificate_rotates_under_load_without_a_failed_call(
    tls_server: tuple[TlsServer, SecretMount, list[Issued]],
) -> None:
    server, mount, (first, second) = tls_server
    assert server.served_certificate().public_bytes(Encoding.DER) == _der(first)
    with Load(server) as load:
        _wait_for(lambda: load.calls > 50)
        mount.publish(second.cert_pem(), second.key_pem())
        _wait_for(lambda: server.served_certificate().public_bytes(Encoding.DER) == _der(second))
        before = load.calls
        _wait_for(lambda: load.calls > before + 50)
    assert load.failures == []
    serving = server.components.serving_tls
    assert serving is not None and serving.reloads == 1
    assert serving.not_after() == second.cert.not_valid_after_utc


def test_a_mismatched_pair_keeps_the_certificate_in_use(
    tls_server: tuple[TlsServer, SecretMount, list[Issued]],
) -> None:
    server, mount, (first, second) = tls_server
    mount.publish(second.cert_pem(), first.key_pem())  # a half-finished rotation: new cert, old key
    # gRPC asks for the configuration at each new handshake: this one finds the mismatch and keeps `first`.
    assert server.served_certificate().public_bytes(Encoding.DER) == _der(first)
    serving = server.components.serving_tls
    assert serving is not None and (serving.failures, serving.reloads) == (1, 0)
    mount.publish(second.cert_pem(), second.key_pem())
    _wait_for(lambda: server.served_certificate().public_bytes(Encoding.DER) == _der(second))
