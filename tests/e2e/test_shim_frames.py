"""The shim asks its two batch calls over the frames socket beside a plain Unix gRPC target (docs/frames.md),
and a service restart costs no answer: calls go over gRPC until the frames socket accepts again.

The module stops the session broker, runs its own broker whose shim reaches meshgate at `unix:<socket>`
without TLS, and restarts the session broker afterwards (one broker at a time on a 2-core machine).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pulsar
import pytest

from devtools import pki as dev_pki
from devtools.broker import BrokerSettings, StandaloneBroker
from devtools.service import MeshgateProcess
from tests.e2e.conftest import example_service_config, instead_of, produce_once

pytestmark = pytest.mark.e2e


@dataclass
class Framed:
    broker: StandaloneBroker
    socket: Path
    service: MeshgateProcess


@pytest.fixture(scope="module")
def framed(
    broker: StandaloneBroker, pki: dev_pki.DevPki, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Framed]:
    work = tmp_path_factory.mktemp("frames")
    socket = work / "meshgate.sock"
    config = example_service_config(work, pki.ca_file)
    service = MeshgateProcess(config, work / "meshgate.log", socket=socket)
    service.start()
    try:
        frames = Path(f"{socket}.frames")
        assert frames.is_socket(), f"the service offers no frames socket at {frames}"
        settings = BrokerSettings(
            pki=pki, meshgate_target=service.target, workdir=work / "broker", line=broker.settings.line
        )
        with instead_of(broker, settings) as own:
            yield Framed(own, socket, service)
    finally:
        service.stop()


def _produce(framed: Framed, pki: dev_pki.DevPki, name: str) -> None:
    produce_once(framed.broker, pki, name, "frames")


def _calls(framed: Framed, rpc: str, transport: str) -> float:
    page = framed.broker.metrics()
    labels = f'rpc="{rpc}",transport="{transport}"'  # among the broker's own labels (cluster)
    match = re.search(r"(?m)^meshgate_shim_calls_total\{[^}]*" + labels + r"[^}]*\} (\S+)", page)
    return float(match.group(1)) if match else 0.0


def test_the_batch_calls_go_over_the_frames_socket(framed: Framed, pki: dev_pki.DevPki) -> None:
    _produce(framed, pki, "writer")
    with pytest.raises(pulsar.AuthorizationError):
        _produce(framed, pki, "reader")
    assert _calls(framed, "authorize_batch", "frames") >= 1
    assert _calls(framed, "authenticate_batch", "frames") >= 1
    assert _calls(framed, "authorize_batch", "grpc") == 0
    log = framed.broker.log.read_text(errors="replace")
    assert f"AuthorizeBatch calls over {framed.socket}.frames (the frames transport" in log


def test_a_service_restart_costs_no_answer_and_frames_return(framed: Framed, pki: dev_pki.DevPki) -> None:
    framed.service.stop()
    framed.service.start()
    deadline = time.monotonic() + 10
    while True:  # the shim finds the restarted service; a connect may miss it while it starts
        try:
            _produce(framed, pki, "writer")
            break
        except pulsar.PulsarException:
            assert time.monotonic() < deadline, "the restarted service was not used"
            time.sleep(0.2)
    before = _calls(framed, "authorize_batch", "frames")
    time.sleep(0.3)  # past RECONNECT_CHECK_MILLIS: the frames socket is looked for again
    _produce(framed, pki, "writer")
    assert _calls(framed, "authorize_batch", "frames") > before
