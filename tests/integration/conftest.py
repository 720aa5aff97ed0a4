"""Integration fixtures: a real meshgate gRPC server on 127.0.0.1:0, in-process, and sync stubs to call it.

The server is assembled exactly as `meshgate serve` assembles it (`build_components`, `start_background`,
`start_grpc`) from a `ServiceConfig` loaded from a YAML file, in the test's process, so a test costs a few
milliseconds of start-up and can inject the clock a conformance case replays.

* `start_meshgate(raw_config, clock=None)`: start a server (stopped when the test ends).
* `server_pool`: module-scoped, one server per configuration key, for tables whose cases share one.
* `meshgate` / `stubs`: a server over a fresh copy of the example policies, and stubs bound to it.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from grpc_health.v1 import health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2_grpc
from meshgate.clock import Clock
from meshgate.config.service import ServiceConfig, load_config
from meshgate.server.app import (
    Components,
    RunningServer,
    build_components,
    close_components,
    start_background,
    start_grpc,
    stop_grpc,
)
from meshgate.v1 import meshgate_pb2_grpc as pb_grpc

from devtools import pki as dev_pki

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `tests.*` helpers
    sys.path.insert(0, str(ROOT))

EXAMPLE_POLICIES = ROOT / "policies" / "examples"
RawConfig = Mapping[str, Mapping[str, Any]]


@dataclass
class Stubs:
    channel: grpc.Channel
    authentication: pb_grpc.AuthenticationStub
    authorization: pb_grpc.AuthorizationStub
    health: health_pb2_grpc.HealthStub
    reflection: reflection_pb2_grpc.ServerReflectionStub

    @classmethod
    def connect(cls, target: str) -> Stubs:
        channel = grpc.insecure_channel(target)
        grpc.channel_ready_future(channel).result(timeout=10)
        return cls(
            channel,
            pb_grpc.AuthenticationStub(channel),
            pb_grpc.AuthorizationStub(channel),
            health_pb2_grpc.HealthStub(channel),
            reflection_pb2_grpc.ServerReflectionStub(channel),
        )


class MeshgateServer:
    """One running service: its components (to inspect or drive), its port and a channel to it."""

    def __init__(self, components: Components, running: RunningServer, clock: Clock | None) -> None:
        self.components = components
        self.clock = clock  # the clock injected into the components, when the test gave one
        self.running = running
        self.stubs = Stubs.connect(self.target)

    @classmethod
    def start(cls, config_file: Path, clock: Clock | None, background: bool) -> MeshgateServer:
        return cls.boot(load_config(config_file, env={}), clock, background)

    @classmethod
    def boot(cls, config: ServiceConfig, clock: Clock | None, background: bool = True) -> MeshgateServer:
        """A server for an already loaded `config` (a test may change it after the checks loading makes)."""
        components = build_components(config, clock)
        if background:
            start_background(components)
        return cls(components, start_grpc(components), clock)

    @property
    def target(self) -> str:
        listen = self.components.config.grpc.listen
        return listen if listen.startswith("unix:") else f"127.0.0.1:{self.running.port}"

    def stop(self) -> None:
        stop_grpc(self.running)
        close_components(self.components)
        self.stubs.channel.close()  # after the server: a live connection makes close() linger ~200 ms


def write_config(directory: Path, raw: RawConfig, name: str = "meshgate.yaml") -> Path:
    """A config file for `raw`, listening on 127.0.0.1:0 unless `raw` says where, policy not watched unless
    `raw` says so."""
    sections = {section: dict(values) for section, values in raw.items()}
    sections.setdefault("grpc", {}).setdefault("listen", "127.0.0.1:0")
    policy = sections.setdefault("policy", {})
    policy.setdefault("dir", str(EXAMPLE_POLICIES))
    policy.setdefault("watch", False)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(yaml.safe_dump(sections, sort_keys=False))
    return path


StartMeshgate = Callable[..., MeshgateServer]


@pytest.fixture
def start_meshgate(tmp_path: Path) -> Iterator[StartMeshgate]:
    """`start_meshgate(raw_config, clock=None, background=True)`: a server stopped when the test ends."""
    started: list[MeshgateServer] = []

    def start(raw: RawConfig, clock: Clock | None = None, background: bool = True) -> MeshgateServer:
        config = write_config(tmp_path / f"server-{len(started)}", raw)
        started.append(MeshgateServer.start(config, clock, background))
        return started[-1]

    yield start
    for server in reversed(started):
        server.stop()


class ServerPool:
    """One server per key for a module; `get(key, make)` starts it on first use with `make()`'s settings."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._servers: dict[str, MeshgateServer] = {}

    def get(
        self, key: str, make: Callable[[Path], tuple[RawConfig, Clock | None]], background: bool = True
    ) -> MeshgateServer:
        if key not in self._servers:
            directory = self._directory / f"server-{len(self._servers)}"
            directory.mkdir(parents=True)
            raw, clock = make(directory)
            config = write_config(directory, raw)
            self._servers[key] = MeshgateServer.start(config, clock, background)
        return self._servers[key]

    def __len__(self) -> int:
        return len(self._servers)

    def close(self) -> None:
        for server in self._servers.values():
            server.stop()
        self._servers.clear()


@pytest.fixture(scope="module")
def server_pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerPool]:
    pool = ServerPool(tmp_path_factory.mktemp("pool"))
    yield pool
    pool.close()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dev_pki.DevPki:
    """A test CA with the usual workload certificates, shared by a module's tests."""
    return dev_pki.create(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    """A private copy of the example policies that a test may edit."""
    return Path(shutil.copytree(EXAMPLE_POLICIES, tmp_path / "policies"))


@pytest.fixture
def meshgate(start_meshgate: StartMeshgate, policy_dir: Path) -> MeshgateServer:
    """The service over `policy_dir`, watched, with the dev super user; no credentials configured."""
    policy = {
        "dir": str(policy_dir),
        "watch": True,
        "superusers": ["spiffe://meshgate.test/ns/pulsar/sa/broker"],
    }
    return start_meshgate({"policy": policy})


@pytest.fixture
def stubs(meshgate: MeshgateServer) -> Stubs:
    return meshgate.stubs
