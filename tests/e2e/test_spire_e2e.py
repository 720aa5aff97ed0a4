"""SPIRE for real (issue #18): workloads registered in a real SPIRE server get X.509-SVIDs from a real agent
and produce through the broker's TLS port; meshgate takes its trust bundles from the same agent's Workload
API (tests/e2e/realid.py).

Each workload's SVID is written to PEM files on every rotation (what spiffe-helper does), and the Pulsar
client reads those files on every new connection. The CA-rotation test runs last: it revokes the CA that
signed the broker's own SVID.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pulsar
import pytest
from spiffe import SpiffeId, WorkloadApiClient

from devtools.devca import LeafSpec
from devtools.service import audit_file
from tests.e2e.realid import PARTNER_ID, REALID_MAX_SKEW_SECONDS, RealId, SvidFiles, uid_selector, write_svid
from tests.support import service_log
from tests.support.audit_log import records_about
from tests.support.pulsar_clients import tls_client_files, token_client

pytestmark = pytest.mark.e2e
SHORT_TTL = 20  # seconds: the agent rotates at about half of it
MAX_SKEW = REALID_MAX_SKEW_SECONDS  # an SVID is accepted this long past its notAfter


def _topic() -> str:
    return f"persistent://acme/shop/spire-{uuid.uuid4().hex[:8]}"


def _workload(name: str) -> str:
    return f"spiffe://meshgate.test/ns/shop/sa/{name}-{uuid.uuid4().hex[:6]}"


@contextmanager
def tls_client(realid: RealId, cert: Path, key: Path) -> Iterator[pulsar.Client]:
    assert realid.broker is not None
    with tls_client_files(realid.broker, realid.pki.ca_file, cert, key) as client:
        yield client


@contextmanager
def svid_files(realid: RealId, spiffe_id: str, tmp_path: Path) -> Iterator[SvidFiles]:
    files = SvidFiles(realid.spire, spiffe_id, tmp_path / "svid")
    try:
        files.wait_first()
        yield files
    finally:
        files.close()


def seconds_until(at: datetime) -> float:
    return (at - datetime.now(UTC)).total_seconds()


def test_spire_svid_produces_through_the_tls_port(realid: RealId, tmp_path: Path) -> None:
    """A registered workload's X.509-SVID from the agent is the principal the policy names."""
    spiffe_id = _workload("writer")
    realid.spire.entry_create(spiffe_id, [uid_selector()])
    cert, key = write_svid(realid.svid(spiffe_id), tmp_path, "writer")
    topic = _topic()
    with tls_client(realid, cert, key) as client:
        consumer = client.subscribe(topic, "s")
        client.create_producer(topic).send(b"from spire")
        assert consumer.receive(timeout_millis=10000).data() == b"from spire"


def test_spire_federated_bundle_admits_a_partner_workload(realid: RealId, tmp_path: Path) -> None:
    """other.test's CA reaches meshgate only as a federated bundle through the Workload API."""
    issued = realid.partner_ca.issue(LeafSpec(uris=[PARTNER_ID]))
    cert, key = tmp_path / "partner.cert.pem", tmp_path / "partner.key.pem"
    cert.write_bytes(issued.cert_pem())
    key.write_bytes(issued.key_pem())
    with tls_client(realid, cert, key) as client:
        client.create_producer(_topic()).send(b"from other.test")


def test_spire_svid_rotation_keeps_producing(realid: RealId, tmp_path: Path) -> None:
    """With a 20 s SVID the agent rotates while the producer sends; at the old SVID's expiry the broker
    drops the session and the client reconnects with the new files: no send fails."""
    spiffe_id = _workload("rotating")
    realid.spire.entry_create(spiffe_id, [uid_selector()], x509_ttl=SHORT_TTL)
    with (
        svid_files(realid, spiffe_id, tmp_path) as files,
        tls_client(realid, files.cert, files.key) as client,
    ):
        first = files.serials[0]
        producer = client.create_producer(_topic(), send_timeout_millis=15000)
        deadline = time.monotonic() + seconds_until(files.not_after[first]) + 6
        sent = 0
        while time.monotonic() < deadline:
            producer.send(f"m{sent}".encode())  # raises on any failure
            sent += 1
            time.sleep(0.5)
        assert len(files.serials) >= 2, f"the agent did not rotate the SVID: {files.serials}"
        producer.send(b"after the first SVID expired")
        fresh = client.create_producer(_topic())  # a new producer: authorized under the new SVID
        fresh.send(b"new producer")
    assert sent > SHORT_TTL
    assert realid.broker is not None
    log = realid.broker.log.read_text(errors="replace")
    ended = log.index(
        f"operation=authentication-refresh, principal={spiffe_id}, reason=meshgate tls authentication "
        "failed (rejected): expired"
    )
    assert f"connected with role={spiffe_id} using authMethod=tls" in log[ended:], (
        "no reconnect with the new SVID"
    )


def test_spire_deleted_entry_stops_the_workload_at_svid_expiry(realid: RealId, tmp_path: Path) -> None:
    """Deleting the registration entry stops rotation; the session ends when the last SVID expires."""
    spiffe_id = _workload("deleted")
    entry = realid.spire.entry_create(spiffe_id, [uid_selector()], x509_ttl=SHORT_TTL)
    with (
        svid_files(realid, spiffe_id, tmp_path) as files,
        tls_client(realid, files.cert, files.key) as client,
    ):
        producer = client.create_producer(_topic(), send_timeout_millis=3000)
        producer.send(b"registered")
        realid.spire.entry_delete(entry)
        time.sleep(6)  # the agent syncs every 5 s; it may have rotated once more before the delete
        last = files.serials[-1]
        expires = files.not_after[last]
        while seconds_until(expires) > 1:
            producer.send(b"still valid")
            time.sleep(0.5)
        # meshgate accepts the SVID for max_skew_seconds more; the broker re-checks every second.
        time.sleep(MAX_SKEW + 3)
        with pytest.raises(pulsar.PulsarException):
            for _ in range(3):
                producer.send(b"after expiry")
        assert files.serials[-1] == last  # no SVID after the delete


def test_spire_jwt_svid_is_the_same_principal_as_the_x509_svid(realid: RealId, tmp_path: Path) -> None:
    """A JWT-SVID from the agent on the token port: meshgate checks it against the agent's JWT bundles and
    names the same SPIFFE principal as the workload's X.509-SVID (credential kind `jwt_svid`)."""
    assert realid.broker is not None and realid.meshgate is not None
    spiffe_id = _workload("jwt")
    realid.spire.entry_create(spiffe_id, [uid_selector()])
    cert, key = write_svid(realid.svid(spiffe_id), tmp_path, "jwt")
    client = WorkloadApiClient(socket_path=realid.spire.workload_api)
    try:
        token = client.fetch_jwt_svid(audience={"pulsar"}, subject=SpiffeId(spiffe_id)).token
    finally:
        client.close()
    by_token, by_cert = _topic(), _topic()
    with token_client(realid.broker, token) as tokens:
        tokens.create_producer(by_token).send(b"jwt-svid")
    with tls_client(realid, cert, key) as certs:
        certs.create_producer(by_cert).send(b"x509-svid")
    audit = audit_file(realid.meshgate.config)
    for topic in (by_token, by_cert):
        produce = records_about(audit, topic, 1, where=lambda r: r.get("action") == "topic.produce")
        assert produce and produce[0]["principal"] == spiffe_id, produce
    logins = {r["credential_kind"] for r in _records(audit) if r.get("principal") == spiffe_id}
    assert {"jwt_svid", "x509_svid"} <= logins, logins


def _records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def wait_for_log(realid: RealId, text: str, since: int) -> None:
    assert realid.meshgate is not None
    service_log.wait_for_log(realid.meshgate, text, since, timeout=30.0)


def log_offset(realid: RealId) -> int:
    assert realid.meshgate is not None
    return service_log.log_offset(realid.meshgate)


def test_spire_ca_rotation_reaches_meshgate_without_restart(realid: RealId, tmp_path: Path) -> None:
    """prepare → activate → taint → revoke on the SPIRE server: each bundle change streams to meshgate; SVIDs
    of the new CA are accepted, and once the old CA is revoked an SVID it signed is refused."""
    assert realid.meshgate is not None
    pid = realid.meshgate.pid
    spiffe_id = _workload("ca-rotation")
    realid.spire.entry_create(spiffe_id, [uid_selector()], x509_ttl=3600)
    old_svid = realid.svid(spiffe_id)
    old_cert, old_key = write_svid(old_svid, tmp_path, "old")
    old_authority = realid.spire.x509_authorities()["active"]["authority_id"]  # type: ignore[index]
    since = log_offset(realid)
    prepared = realid.spire.x509_authority("prepare")["prepared_authority"]["authority_id"]  # type: ignore[index]
    wait_for_log(realid, "meshgate.test (2 CAs)", since)
    realid.spire.x509_authority("activate", prepared)
    realid.spire.x509_authority("taint", old_authority)  # agents re-sign SVIDs of a tainted CA at once
    deadline = time.monotonic() + 60
    while (new_svid := realid.svid(spiffe_id)).leaf.serial_number == old_svid.leaf.serial_number:
        assert time.monotonic() < deadline, "the agent did not re-sign the SVID after the taint"
        time.sleep(1)
    assert new_svid.leaf.issuer != old_svid.leaf.issuer
    new_cert, new_key = write_svid(new_svid, tmp_path, "new")
    with tls_client(realid, new_cert, new_key) as client:
        client.create_producer(_topic()).send(b"new CA")
    since = log_offset(realid)
    realid.spire.x509_authority("revoke", old_authority)
    wait_for_log(realid, "meshgate.test (1 CA)", since)
    with tls_client(realid, old_cert, old_key) as client, pytest.raises(pulsar.PulsarException):
        client.create_producer(_topic())
    with tls_client(realid, new_cert, new_key) as client:
        client.create_producer(_topic()).send(b"still accepted")
    assert realid.meshgate.pid == pid  # no restart
