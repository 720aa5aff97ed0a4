"""Keycloak as the corporate SSO (issue #18): real access tokens from a real Keycloak 26 (realm
devtools/keycloak/meshgate-realm.json) on the broker's token port, checked by meshgate against the keys it
found through Keycloak's discovery document (tests/e2e/realid.py).

Users alice (payments-admins), bob (payments-readers) and carol (platform) sign in with the public client
`pulsar-cli` (password grant, as a CLI would after a browser login); the CI job uses the confidential
client `ci-pipeline` (client credentials). The rules are tests/e2e/realid_policies/realid.yaml.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import grpc
import pulsar
import pytest
import yaml
from meshgate.v1 import meshgate_pb2 as pb
from meshgate.v1 import meshgate_pb2_grpc as pb_grpc

from devtools.keycloak import Keycloak
from devtools.ports import free_port
from devtools.service import MeshgateProcess, write_config
from tests.e2e.realid import OIDC_SETTINGS, POLICY_TEMPLATE, RealId, keycloak_issuer_config
from tests.support.pulsar_clients import token_client as shared_token_client
from tests.support.service_log import log_offset, wait_for_log

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def keycloak(realid: RealId) -> Keycloak:
    if realid.keycloak_error:
        pytest.fail(realid.keycloak_error)
    return realid.keycloak


def _topic(prefix: str = "kc") -> str:
    return f"persistent://acme/payments/{prefix}-{uuid.uuid4().hex[:8]}"


@contextmanager
def token_client(realid: RealId, token: str) -> Iterator[pulsar.Client]:
    assert realid.broker is not None
    with shared_token_client(realid.broker, token) as client:
        yield client


def can_produce(realid: RealId, token: str, topic: str) -> bool:
    with token_client(realid, token) as client:
        try:
            client.create_producer(topic).send(b"x")
        except pulsar.PulsarException:
            return False
    return True


def can_consume(realid: RealId, token: str, topic: str) -> bool:
    with token_client(realid, token) as client:
        try:
            client.subscribe(topic, f"s-{uuid.uuid4().hex[:6]}")
        except pulsar.PulsarException:
            return False
    return True


def test_keycloak_group_rules_allow_and_deny(realid: RealId, keycloak: Keycloak) -> None:
    alice = keycloak.password_token("alice", "alice-pw")
    bob = keycloak.password_token("bob", "bob-pw")
    carol = keycloak.password_token("carol", "carol-pw")
    ci = keycloak.client_token()
    topic = _topic()
    assert can_produce(realid, alice, topic) and can_consume(realid, alice, topic)  # payments-admins
    assert can_consume(realid, bob, topic) and not can_produce(realid, bob, topic)  # payments-readers
    assert not can_consume(realid, carol, topic) and not can_produce(realid, carol, topic)  # no rule
    assert can_produce(realid, ci, _topic("ci")) and not can_produce(realid, ci, topic)  # ci-* only


def _components(keycloak: Keycloak) -> list[dict[str, object]]:
    found = keycloak.admin("GET", "/components?type=org.keycloak.keys.KeyProvider")
    assert isinstance(found, list)
    return found


def _rsa_signing_component(keycloak: Keycloak, name: str) -> dict[str, object]:
    return next(c for c in _components(keycloak) if c["providerId"] == "rsa-generated" and c["name"] == name)


def _kid(token: str) -> str:
    import jwt

    return str(jwt.get_unverified_header(token)["kid"])


def test_keycloak_key_rotation_is_followed(realid: RealId, keycloak: Keycloak) -> None:
    """A new active realm key: its tokens are accepted at once (unknown-kid refetch through discovery and
    JWKS). The old key disabled: its tokens are refused with `unknown_kid` once the JWKS no longer has it."""
    assert realid.meshgate is not None
    old_token = keycloak.password_token("alice", "alice-pw")
    old = _rsa_signing_component(keycloak, "rsa-generated")
    realm_id = str(old["parentId"])
    keycloak.admin(
        "POST",
        "/components",
        {
            "name": "rsa-rotated",
            "providerId": "rsa-generated",
            "providerType": "org.keycloak.keys.KeyProvider",
            "parentId": realm_id,
            "config": {"priority": ["200"], "keySize": ["2048"], "active": ["true"], "enabled": ["true"]},
        },
    )
    new_token = keycloak.password_token("alice", "alice-pw")
    assert _kid(new_token) != _kid(old_token)
    topic = _topic("rotation")
    assert can_produce(realid, new_token, topic)  # the first try: no failed authentication
    assert can_produce(realid, old_token, topic)  # the old key is still published
    since = log_offset(realid.meshgate)
    disabled = {**old, "config": {**old["config"], "enabled": ["false"]}}  # type: ignore[dict-item]
    keycloak.admin("PUT", f"/components/{old['id']}", disabled)
    deadline = time.monotonic() + 20
    while can_produce(realid, old_token, topic):
        assert time.monotonic() < deadline, "a token of the removed key is still accepted"
        time.sleep(1)
    wait_for_log(realid.meshgate, "unknown_kid", since, timeout=20.0)
    assert can_produce(realid, keycloak.password_token("alice", "alice-pw"), topic)


def test_keycloak_token_expiry_ends_a_live_consumer(realid: RealId, keycloak: Keycloak) -> None:
    """A 10 s token (client `pulsar-cli-short`): the broker re-checks every second, finds it expired, and
    the client (a fixed token, nothing to renew with) loses its consumer."""
    assert realid.broker is not None
    token = keycloak.password_token("alice", "alice-pw", client="pulsar-cli-short")
    topic = _topic("expiry")
    name = topic.removeprefix("persistent://")
    with token_client(realid, token) as client:
        client.subscribe(topic, "live")
        assert _consumers(realid, name, "live") == 1
        deadline = time.monotonic() + 30
        while _consumers(realid, name, "live") != 0:
            assert time.monotonic() < deadline, "the consumer outlived its token"
            time.sleep(1)


def _consumers(realid: RealId, name: str, subscription: str) -> int:
    assert realid.broker is not None
    status, body = realid.broker.admin_get(f"/admin/v2/persistent/{name}/stats")
    assert status == 200, body
    return len(json.loads(body)["subscriptions"].get(subscription, {}).get("consumers", []))


# --- discovery unreachable ----------------------------------------------------------------------------------


class Gate:
    """A TCP forwarder to Keycloak that can be shut (refuses connections) and opened again."""

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self._target = target_port
        self._open = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def open(self) -> None:
        self._open.set()

    def shut(self) -> None:
        self._open.clear()

    def _accept(self) -> None:
        while True:
            conn, _ = self._listener.accept()
            if not self._open.is_set():
                conn.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self._target))
            for a, b in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=_pipe, args=(a, b), daemon=True).start()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for s in (source, sink):
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


def _authenticate(target: str, token: str) -> pb.AuthenticateResponse:
    with grpc.insecure_channel(target) as channel:
        request = pb.AuthenticateRequest(
            credential=pb.Credential(token=token),
            peer=pb.Peer(address="127.0.0.1:40001", auth_method="token", transport="binary"),
        )
        response: pb.AuthenticateResponse = pb_grpc.AuthenticationStub(channel).Authenticate(
            request, timeout=10
        )
        return response


def _jwks_check(port: int, issuer: str) -> dict[str, object]:
    """The `jwks:<issuer>` entry of /readyz."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as err:
        body = json.loads(err.read())
    return next(c for c in body["checks"] if c["name"] == f"jwks:{issuer}")


def _wait(predicate: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.5)


def test_keycloak_discovery_unreachable_at_start_and_later(keycloak: Keycloak, tmp_path: Path) -> None:
    """Unreachable at start: serve runs not ready and refuses tokens with `jwks_unavailable`, then becomes
    ready and accepts them within `retry_seconds` of discovery answering, without a restart. Unreachable
    later: the last good keys stay in use (ready, tokens accepted) until `max_stale_seconds`."""
    gate = Gate(keycloak.port)
    issuer = keycloak_issuer_config(keycloak)
    issuer["discovery_url"] = f"http://127.0.0.1:{gate.port}/realms/meshgate/.well-known/openid-configuration"
    http_port = free_port()
    config = write_config(
        tmp_path / "meshgate.yaml",
        port=0,
        policy_dir=tmp_path / "policies",
        trust_bundles=[],
        superusers=[],
        extra={"oidc": {**OIDC_SETTINGS, "issuers": [issuer]}, "http": {"listen": f"127.0.0.1:{http_port}"}},
    )
    (tmp_path / "policies").mkdir()
    policy = POLICY_TEMPLATE.read_text().replace("KEYCLOAK_ISSUER", keycloak.issuer)
    (tmp_path / "policies" / "realid.yaml").write_text(policy)  # `start()` waits for a serving policy
    raw = yaml.safe_load(config.read_text())
    assert raw["oidc"]["issuers"][0]["discovery_url"].startswith(f"http://127.0.0.1:{gate.port}/")
    service = MeshgateProcess(config, tmp_path / "meshgate.log")
    service.start()
    try:
        token = keycloak.password_token("alice", "alice-pw")
        refused = _authenticate(service.target, token)
        assert refused.rejection.code == "jwks_unavailable", refused
        check = _jwks_check(http_port, keycloak.issuer)
        assert not check["ok"] and str(check["detail"]).startswith("keys never_loaded"), check
        gate.open()
        _wait(lambda: _authenticate(service.target, token).WhichOneof("result") == "identity")
        assert _jwks_check(http_port, keycloak.issuer)["ok"]
        gate.shut()
        _wait(lambda: str(_jwks_check(http_port, keycloak.issuer)["detail"]).startswith("keys stale"))
        later = _authenticate(service.target, keycloak.password_token("bob", "bob-pw"))
        assert later.WhichOneof("result") == "identity", later  # the last good keys
        assert _jwks_check(http_port, keycloak.issuer)["ok"]
    finally:
        service.stop()
