"""Fault injection through a real Pulsar 4.0 broker with the shim: the service killed under load, the service
unreachable (what the client and the broker log say), a broken policy commit, the trust bundle rewritten
mid-traffic, every producer of many clients dropped at once.

This module owns its service and broker (module scope, Pulsar 4.0 only), so its faults never leak into other
tests. Every loop is bounded in count and time; everything listens on loopback. Invariants everywhere: a
denied identity never gets a producer (zero wrong allows) and no call of an allowed one is lost.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pulsar
import pytest

from devtools import pki as dev_pki
from devtools.broker import BrokerSettings, StandaloneBroker
from devtools.devca import DevCA, LeafSpec, pem_bundle
from devtools.ports import free_port
from devtools.service import MeshgateProcess, audit_file
from tests.e2e.conftest import SHIM_IDENTITIES, example_service_config
from tests.support.audit_log import records_about

pytestmark = pytest.mark.e2e
WRITER, STRANGER = "writer", "stranger"
CLIENTS = int(os.environ.get("MESHGATE_FAULT_CLIENTS", "40"))  # reconnect test; see docs/RELIABILITY.md


@dataclass
class Rig:
    pki: dev_pki.DevPki
    meshgate: MeshgateProcess
    broker: StandaloneBroker
    policies: Path
    bundle: Path
    http_port: int
    log: list[str] = field(default_factory=list)

    def readyz(self) -> dict[str, object]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/readyz", timeout=5) as response:
                return dict(json.loads(response.read()))
        except urllib.error.HTTPError as error:
            return dict(json.loads(error.read()))


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    work = tmp_path_factory.mktemp("faults")
    pki = dev_pki.create(work / "pki")
    pki.issue(STRANGER, LeafSpec(uris=[SHIM_IDENTITIES[STRANGER]]))
    bundle = work / "bundle.pem"
    shutil.copy(pki.ca_file, bundle)
    http_port = free_port()
    config = example_service_config(work, bundle, {"http": {"listen": f"127.0.0.1:{http_port}"}})
    service = MeshgateProcess(config, work / "meshgate.log")
    service.start()
    broker = StandaloneBroker(
        BrokerSettings(pki=pki, meshgate_target=service.target, workdir=work / "broker")
    )
    try:
        broker.start()
        broker.create_namespaces("acme/payments")
        yield Rig(pki, service, broker, work / "policies", bundle, http_port)
    finally:
        broker.stop()
        service.stop()


def _topic() -> str:
    return f"persistent://acme/payments/faults-{uuid.uuid4().hex[:8]}"


def _client(rig: Rig, name: str, timeout: int = 5) -> pulsar.Client:
    return pulsar.Client(
        rig.broker.service_url_tls,
        authentication=pulsar.AuthenticationTLS(str(rig.pki.cert(name)), str(rig.pki.key(name))),
        tls_trust_certs_file_path=str(rig.pki.ca_file),
        operation_timeout_seconds=timeout,
        connection_timeout_ms=timeout * 1000,
    )


def _produces(client: pulsar.Client) -> bool:
    try:
        producer = client.create_producer(_topic())
    except pulsar.PulsarException:
        return False
    producer.send(b"m")
    producer.close()
    return True


def test_service_killed_and_restarted_under_load(rig: Rig) -> None:
    writer, stranger = _client(rig, WRITER), _client(rig, STRANGER)
    try:
        assert _wait(lambda: _produces(writer), 30.0)  # warm-up: the first topic of a fresh broker is slow
        assert not _produces(stranger)
        wrong_allows, outage_attempts = 0, 0
        rig.meshgate.stop(kill=True)
        outage_ends = time.monotonic() + 2.0
        while time.monotonic() < outage_ends:  # bounded: ~2 s of traffic against a dead service
            wrong_allows += _produces(stranger)
            _produces(writer)
            outage_attempts += 1
        rig.meshgate.start()
        back = time.monotonic()
        recovered = _wait(lambda: _produces(writer), 10.0)
        recovery = time.monotonic() - back
        wrong_allows += sum(_produces(stranger) for _ in range(5))
    finally:
        writer.close()
        stranger.close()
    print(f"\nservice restart: {outage_attempts} attempts during the outage, recovery {recovery:.2f}s")
    assert wrong_allows == 0
    assert recovered and recovery <= 5.0  # goal ≤ 1 s (measured and recorded in docs/RELIABILITY.md)


# How long a question waits for an unreachable service before it is denied (meshgateConnectDeadlineMillis).
CONNECT_BUDGET = 3.0
UNREACHABLE = "meshgate could not decide, denied: the meshgate service at {target} is unreachable ("
WHAT_TO_DO = "check that the meshgate sidecar is running and listening there (broker.conf meshgateTargets)"


def test_an_unreachable_service_is_named_once_per_interval_and_every_deny_is_audited(rig: Rig) -> None:
    """The sidecar stops while a client is connected: each of many producer creations fails within its
    budget with AuthorizationError; the broker log names the service's address and why in one meshgate line
    (per 10 s), not one per call; and once the service is back the shim reports those denies to the audit log.
    The Python client's exception carries only the error's name, and its log Pulsar's fixed text for the
    first question of a producer (partition metadata): Pulsar sends meshgate's text only to producer and
    subscribe commands (docs/shim.md, "What clients see")."""
    writer = pulsar.Client(
        rig.broker.service_url_tls,
        authentication=pulsar.AuthenticationTLS(str(rig.pki.cert(WRITER)), str(rig.pki.key(WRITER))),
        tls_trust_certs_file_path=str(rig.pki.ca_file),
        operation_timeout_seconds=30,
    )
    topics: list[str] = []
    outcomes: dict[str, tuple[str, float]] = {}
    try:
        assert _wait(lambda: _produces(writer), 30.0)  # connected (and authenticated) while the service is up
        since = len(rig.broker.log.read_text(errors="replace"))
        target = rig.meshgate.target
        rig.meshgate.stop(kill=True)
        outage = time.monotonic()
        # Waves of 12 concurrent producers until the meshgate line appears: an outage an earlier test of this
        # module caused less than 10 s ago holds it back until its interval is over.
        while not _undecided_lines(rig, since) and time.monotonic() - outage < 25.0:
            wave = [_topic() for _ in range(12)]
            topics += wave
            threads = [threading.Thread(target=_try_producer, args=(writer, t, outcomes)) for t in wave]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(CONNECT_BUDGET + 20)
    finally:
        rig.meshgate.start()
        recovered = _wait(lambda: _produces(writer), 15.0)
        writer.close()
    assert recovered
    assert {error for error, _ in outcomes.values()} == {"AuthorizationError"}, outcomes
    assert max(seconds for _, seconds in outcomes.values()) < CONNECT_BUDGET + 2.0, outcomes
    # What the client's own log shows (Pulsar's fixed text for partition metadata) is in docs/shim.md; it is
    # not asserted here: the Python client takes its logger from the first Client of the process only.
    ours = _undecided_lines(rig, since)
    assert len(ours) == 1 and len(outcomes) >= 12, (ours, len(outcomes))
    assert UNREACHABLE.format(target=target) in ours[0] and WHAT_TO_DO in ours[0], ours
    denied = records_about(
        audit_file(rig.meshgate.config), topics[0], want=1, timeout=20.0,
        where=lambda r: r.get("served_by") == "shim_error",
    )  # fmt: skip
    assert denied and denied[0]["decision"] == "deny", denied
    # A refused connection ends either way: the last target waits for a connection until the deadline.
    assert denied[0]["reason_code"] in ("service_unavailable", "deadline_exceeded"), denied


def _undecided_lines(rig: Rig, since: int) -> list[str]:
    log = rig.broker.log.read_text(errors="replace")[since:]
    return [line for line in log.splitlines() if "meshgate could not decide, denied:" in line]


def _try_producer(client: pulsar.Client, topic: str, outcomes: dict[str, tuple[str, float]]) -> None:
    began = time.monotonic()
    try:
        client.create_producer(topic).close()
        outcomes[topic] = ("ok", time.monotonic() - began)
    except pulsar.PulsarException as error:
        outcomes[topic] = (type(error).__name__, time.monotonic() - began)


BROKEN_FILE = "zz-broken.yaml"
PARTIAL_GRANT = """apiVersion: meshgate.dev/v1
kind: AccessPolicy
metadata: {name: partial}
rules:
  - name: stranger-everything
    effect: allow
    subjects: [{spiffe: '%s'}]
    actions: [produce]
    resources: ["persistent://acme/payments/*"]
"""


def test_broken_policy_commit_keeps_last_good(rig: Rig) -> None:
    good = _policy_detail(rig)
    grant, broken = rig.policies / "zz-partial.yaml", rig.policies / BROKEN_FILE
    writer, stranger = _client(rig, WRITER), _client(rig, STRANGER)
    try:
        # one commit: a valid file granting the stranger everything, and a broken file
        broken.write_text("apiVersion: meshgate.dev/v1\nkind: AccessPolicy\nrules: [\n")
        grant.write_text(PARTIAL_GRANT % SHIM_IDENTITIES[STRANGER])
        assert _wait(lambda: "refused" in _policy_detail(rig), 15.0), _policy_detail(rig)
        assert rig.readyz()["ready"] is True  # still serving the last good revision, and saying so
        assert _policy_detail(rig).startswith(good.split(";")[0])
        wrong = sum(_produces(stranger) for _ in range(10))
        served = sum(_produces(writer) for _ in range(10))
    finally:
        broken.unlink(missing_ok=True)
        grant.unlink(missing_ok=True)
        writer.close()
        stranger.close()
    assert wrong == 0 and served == 10
    assert _wait(lambda: "refused" not in _policy_detail(rig), 15.0)


def _policy_detail(rig: Rig) -> str:
    checks = rig.readyz()["checks"]
    assert isinstance(checks, list)
    return str(next(c["detail"] for c in checks if c["name"] == "policy"))


def test_trust_bundle_rotated_mid_traffic_fails_no_call(rig: Rig) -> None:
    """New connections (each authenticates its certificate) while the bundle file is rewritten: CA added
    ahead of a rotation, then removed again; the bundle generation changes, no call fails."""
    next_ca = DevCA("next dev CA")
    original = rig.bundle.read_bytes()
    bundles = [original + pem_bundle([next_ca.cert]), original]
    failures, calls, wrong = 0, 0, 0
    deadline = time.monotonic() + 20.0
    for i in range(12):
        if time.monotonic() > deadline:
            break
        if i % 4 == 2:
            _atomic_write(rig.bundle, bundles[(i // 4) % 2])
        writer, stranger = _client(rig, WRITER), _client(rig, STRANGER)
        try:
            calls += 1
            failures += not _produces(writer)
            wrong += _produces(stranger)
        finally:
            writer.close()
            stranger.close()
    _atomic_write(rig.bundle, original)
    assert calls >= 8 and failures == 0 and wrong == 0


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def test_all_clients_reconnect_and_are_reauthorized(rig: Rig) -> None:
    """Every producer of many clients is dropped at once (namespace unload: the broker closes them and they
    reconnect), so each is authorized again through the shim; the strangers stay refused throughout.
    A full broker-process restart is not used here: see docs/RELIABILITY.md (standalone restart gap)."""
    clients = [_client(rig, WRITER, timeout=30) for _ in range(CLIENTS)]
    strangers = [_client(rig, STRANGER, timeout=30) for _ in range(max(2, CLIENTS // 10))]
    try:
        producers = [c.create_producer(_topic(), send_timeout_millis=30_000) for c in clients]
        started = time.monotonic()
        status, body = rig.broker.admin_request("PUT", "/admin/v2/namespaces/acme/payments/unload", None)
        assert status == 204, body
        for producer in producers:  # each send waits for its producer to be re-created and re-authorized
            producer.send(b"after reconnect")
        reconnected = time.monotonic() - started
        wrong = sum(_produces(s) for s in strangers)
    finally:
        for client in clients + strangers:
            client.close()
    print(f"\nreconnect: {CLIENTS} producers re-authorized and sent within {reconnected:.1f}s")
    assert wrong == 0


def _wait(condition: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.05)
    return False


def test_broker_restart_reauthorizes_every_reconnecting_client(rig: Rig) -> None:
    """The broker process itself restarts on its data; every client reconnects on its own and each producer is
    authorized afresh through the shim, while the strangers stay refused."""
    clients = [_client(rig, WRITER, timeout=60) for _ in range(CLIENTS // 2)]
    strangers = [_client(rig, STRANGER, timeout=30) for _ in range(2)]
    try:
        producers = [c.create_producer(_topic(), send_timeout_millis=60_000) for c in clients]
        restart = rig.broker.restart()
        started = time.monotonic()
        for producer in producers:  # each send waits for its client to reconnect and be re-authorized
            producer.send(b"after broker restart")
        reconnected = time.monotonic() - started
        wrong = sum(_produces(s) for s in strangers)
    finally:
        for client in clients + strangers:
            client.close()
    print(
        f"\nbroker restart {restart:.1f}s; {len(producers)} producers re-authorized within {reconnected:.1f}s"
    )
    assert wrong == 0
