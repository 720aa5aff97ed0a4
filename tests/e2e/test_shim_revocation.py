"""Live sessions follow the policy (issue #6): a policy commit that revokes a connected producer or consumer
disconnects it within 2 s, a grant is visible to a new producer within 1 s, an expired certificate is
disconnected within 2 s of expiry, and a service killed and restarted mid-traffic causes no wrong allow.

These tests change policy, so the module swaps the session's meshgate process for one with its own policy
folder (same address, so the broker's shim follows it), and swaps the session process back at the end.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pulsar
import pytest
import yaml

from devtools import pki as dev_pki
from devtools.broker import StandaloneBroker
from devtools.devca import LeafSpec
from devtools.service import MeshgateProcess, write_config
from tests.e2e.conftest import copy_policies

pytestmark = pytest.mark.e2e

WRITER = dev_pki.WORKLOADS["writer"]
READER = dev_pki.WORKLOADS["reader"]
STRANGER = "spiffe://meshgate.test/ns/stranger/sa/nobody"
REVOKE_WITHIN = 2.0
GRANT_WITHIN = 1.0


@dataclass
class PolicyRepo:
    """The module's own service and the policy folder it watches."""

    directory: Path
    service: MeshgateProcess

    def commit(self, name: str, effect: str, subject: str, action: str, topic: str) -> Path:
        """Write one rule file atomically (as git-sync would swap it in)."""
        policy = {
            "apiVersion": "meshgate.dev/v1",
            "kind": "AccessPolicy",
            "metadata": {"name": name},
            "rules": [
                {
                    "name": f"{name}-rule",
                    "effect": effect,
                    "subjects": [{"spiffe": subject}],
                    "actions": [action],
                    "resources": [topic],
                }
            ],
        }
        path = self.directory / f"{name}.yaml"
        staging = self.directory / f".{name}.tmp"
        staging.write_text(yaml.safe_dump(policy, sort_keys=False))
        staging.rename(path)
        return path


@pytest.fixture(scope="module")
def repo(
    broker: StandaloneBroker,
    meshgate: MeshgateProcess,
    pki: dev_pki.DevPki,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[PolicyRepo]:
    work = tmp_path_factory.mktemp("meshgate-revocation")
    directory = copy_policies(work / "policies")
    config = write_config(
        work / "meshgate.yaml",
        port=0,
        policy_dir=directory,
        trust_bundles=[f"{dev_pki.TRUST_DOMAIN}={pki.ca_file}"],
        superusers=[dev_pki.BROKER_ID],
        # No clock-skew leeway, so a certificate stops being accepted exactly at its notAfter.
        extra={"identity": {"max_skew_seconds": 0}},
    )
    meshgate.stop()
    own = MeshgateProcess(config, work / "meshgate.log", port=meshgate.port)
    own.start()
    try:
        yield PolicyRepo(directory, own)
    finally:
        own.stop()
        meshgate.start()


@contextmanager
def client(broker: StandaloneBroker, pki: dev_pki.DevPki, cert: Path, key: Path) -> Iterator[pulsar.Client]:
    instance = pulsar.Client(
        broker.service_url_tls,
        authentication=pulsar.AuthenticationTLS(str(cert), str(key)),
        tls_trust_certs_file_path=str(pki.ca_file),
        operation_timeout_seconds=5,
    )
    try:
        yield instance
    finally:
        instance.close()


def _as(broker: StandaloneBroker, pki: dev_pki.DevPki, name: str) -> AbstractContextManager[pulsar.Client]:
    return client(broker, pki, pki.cert(name), pki.key(name))


def _topic() -> str:
    return f"persistent://acme/payments/live-{uuid.uuid4().hex[:8]}"


def _stats(broker: StandaloneBroker, topic: str) -> dict[str, object]:
    status, body = broker.admin_get("/admin/v2/" + topic.replace("://", "/") + "/stats")
    assert status == 200, (status, body)
    stats: dict[str, object] = json.loads(body)
    return stats


def _publishers(broker: StandaloneBroker, topic: str) -> int:
    return len(_stats(broker, topic)["publishers"])  # type: ignore[arg-type]


def _consumers(broker: StandaloneBroker, topic: str, subscription: str) -> int:
    subscriptions: dict[str, dict[str, list[object]]] = _stats(broker, topic)["subscriptions"]  # type: ignore[assignment]
    return len(subscriptions[subscription]["consumers"])


def _seconds_until(condition: Callable[[], bool], since: float, limit: float = 10.0) -> float:
    while time.monotonic() - since < limit:
        if condition():
            return time.monotonic() - since
        time.sleep(0.05)
    raise AssertionError(f"not true within {limit}s")


def _until_allowed(attempt: Callable[[], object], since: float, limit: float = 10.0) -> float:
    def allowed() -> bool:
        try:
            attempt()
        except pulsar.PulsarException:
            return False
        return True

    return _seconds_until(allowed, since, limit)


def _ready(broker: StandaloneBroker, pki: dev_pki.DevPki) -> None:
    """Wait until the shim reaches the module's service (its reconnect backoff is at most 2 s)."""
    with _as(broker, pki, "writer") as writer:
        _until_allowed(lambda: writer.create_producer(_topic()).close(), time.monotonic())


def test_revoking_a_connected_producer_disconnects_it(
    broker: StandaloneBroker, pki: dev_pki.DevPki, repo: PolicyRepo
) -> None:
    _ready(broker, pki)
    topic = _topic()
    with _as(broker, pki, "writer") as writer:
        writer.create_producer(topic).send(b"before")
        assert _publishers(broker, topic) == 1
        began = time.monotonic()
        repo.commit(f"revoke-{uuid.uuid4().hex[:6]}", "deny", WRITER, "topic.produce", topic)
        took = _seconds_until(lambda: _publishers(broker, topic) == 0, began)
        print(f"\nproducer disconnected {took * 1000:.0f} ms after the policy commit")
        assert took < REVOKE_WITHIN
        with pytest.raises(pulsar.AuthorizationError):
            writer.create_producer(topic)


def test_revoking_a_connected_consumer_disconnects_it(
    broker: StandaloneBroker, pki: dev_pki.DevPki, repo: PolicyRepo
) -> None:
    _ready(broker, pki)
    topic = _topic()
    with _as(broker, pki, "reader") as reader:
        reader.subscribe(topic, "billing")
        assert _consumers(broker, topic, "billing") == 1
        began = time.monotonic()
        repo.commit(f"revoke-{uuid.uuid4().hex[:6]}", "deny", READER, "topic.consume", topic)
        took = _seconds_until(lambda: _consumers(broker, topic, "billing") == 0, began)
        print(f"\nconsumer disconnected {took * 1000:.0f} ms after the policy commit")
        assert took < REVOKE_WITHIN


def test_a_grant_is_visible_to_a_new_producer_within_a_second(
    broker: StandaloneBroker, pki: dev_pki.DevPki, repo: PolicyRepo
) -> None:
    _ready(broker, pki)
    topic = _topic()
    with _as(broker, pki, "stranger") as stranger:
        with pytest.raises(pulsar.AuthorizationError):
            stranger.create_producer(topic)  # denied, and that deny is now cached
        began = time.monotonic()
        repo.commit(f"grant-{uuid.uuid4().hex[:6]}", "allow", STRANGER, "produce", topic)
        took = _until_allowed(lambda: stranger.create_producer(topic).close(), began)
        print(f"\nnew producer allowed {took * 1000:.0f} ms after the policy commit")
        assert took < GRANT_WITHIN


def test_an_expired_certificate_is_disconnected(
    broker: StandaloneBroker, pki: dev_pki.DevPki, repo: PolicyRepo
) -> None:
    _ready(broker, pki)
    not_after = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=5)
    cert, key = pki.issue(
        f"short-lived-{uuid.uuid4().hex[:6]}",
        LeafSpec(uris=[WRITER], not_before=datetime.now(UTC) - timedelta(minutes=1), not_after=not_after),
    )
    topic = _topic()
    with client(broker, pki, cert, key) as writer:
        writer.create_producer(topic).send(b"while valid")
        assert _publishers(broker, topic) == 1
        wait = (not_after - datetime.now(UTC)).total_seconds()
        time.sleep(max(0.0, wait))
        took = _seconds_until(lambda: _publishers(broker, topic) == 0, time.monotonic())
        print(f"\nexpired producer disconnected {took * 1000:.0f} ms after its certificate expired")
        assert took < REVOKE_WITHIN


def test_service_killed_and_restarted_mid_traffic_makes_no_wrong_allow(
    broker: StandaloneBroker, pki: dev_pki.DevPki, repo: PolicyRepo
) -> None:
    _ready(broker, pki)
    connected, other = _topic(), _topic()
    with _as(broker, pki, "writer") as writer:
        producer = writer.create_producer(connected)
        producer.send(b"before the outage")
        repo.service.stop(kill=True)
        try:
            # While the service is down, even a question it used to allow is denied: no cached allow.
            with pytest.raises(pulsar.PulsarException):
                writer.create_producer(other)
            # The policy changes while the service is down: the writer loses both topics.
            repo.commit(f"outage-{uuid.uuid4().hex[:6]}", "deny", WRITER, "topic.produce", connected)
            repo.commit(f"outage-{uuid.uuid4().hex[:6]}", "deny", WRITER, "topic.produce", other)
        finally:
            repo.service.start()
        began = time.monotonic()
        took = _seconds_until(lambda: _publishers(broker, connected) == 0, began)
        print(f"\nproducer revoked {took * 1000:.0f} ms after the service came back with a new revision")
        assert took < REVOKE_WITHIN + 2.0  # + the shim's reconnect backoff (at most 2 s)
        with pytest.raises(pulsar.AuthorizationError):
            writer.create_producer(other)
