"""Tokens end to end (issue #4): pulsar-client with `AuthenticationToken` on the plain pulsar:// port → real
broker → shim → meshgate, which trusts a Kubernetes-style issuer whose keys a real HTTP JWKS server serves.

A service-account token for `system:serviceaccount:payments:writer` is the principal
`spiffe://meshgate.test/ns/payments/sa/writer`, so the policy that governs the writer's certificate governs
its token too. Expired and foreign-issuer tokens are refused with their stable codes in meshgate's log. On a
broker that re-checks sessions every two seconds, a session whose token expires is challenged and closed
when the client cannot renew, and survives when it can.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator

import pulsar
import pytest

from devtools import pki as dev_pki
from devtools.broker import StandaloneBroker
from devtools.service import MeshgateProcess
from tests.support.brokers import started_broker
from tests.support.k8s_tokens import sa_token
from tests.support.pulsar_clients import token_client
from tests.support.service_log import log_offset, wait_for_log

pytestmark = pytest.mark.e2e
REFRESH_CHECK_SECONDS = 2


def _topic() -> str:
    return f"persistent://acme/payments/tokens-{uuid.uuid4().hex[:8]}"


# --- the session broker (every Pulsar line) --------------------------------------------------------------


def test_writer_token_produces_and_reader_token_receives(broker: StandaloneBroker) -> None:
    topic = _topic()
    payload = f"token {uuid.uuid4()}".encode()
    with (
        token_client(broker, sa_token("reader")) as reader,
        token_client(broker, sa_token("writer")) as writer,
    ):
        consumer = reader.subscribe(topic, "billing")
        writer.create_producer(topic).send(payload)
        message = consumer.receive(timeout_millis=10_000)
        consumer.acknowledge(message)
        assert message.data() == payload


def test_token_principal_gets_only_its_rights(broker: StandaloneBroker) -> None:
    with token_client(broker, sa_token("reader")) as client, pytest.raises(pulsar.AuthorizationError):
        client.create_producer(_topic())


@pytest.mark.parametrize(
    ("token", "code"),
    [
        (lambda: sa_token("writer", expires_in=-60), "expired"),
        (lambda: sa_token("writer", issuer="https://kubernetes.elsewhere.test", key="rsa2"), "wrong_issuer"),
        (
            lambda: sa_token("writer", key="rsa2"),
            "unknown_kid",
        ),  # right issuer name, a key it never published
    ],
    ids=["expired", "foreign-issuer", "forged-key"],
)
def test_bad_tokens_are_refused_with_their_code(
    broker: StandaloneBroker, meshgate: MeshgateProcess, token: Callable[[], str], code: str
) -> None:
    since = log_offset(meshgate)
    with token_client(broker, token()) as client, pytest.raises(pulsar.PulsarException) as refused:
        client.create_producer(_topic())
    assert not isinstance(refused.value, pulsar.AuthorizationError)
    wait_for_log(meshgate, f"authentication rejected: {code}:", since)


# --- session expiry: a broker that re-checks every REFRESH_CHECK_SECONDS (Pulsar 4.0 only) ----------------


@pytest.fixture(scope="module")
def short_refresh_broker(
    tmp_path_factory: pytest.TempPathFactory, pki: dev_pki.DevPki, meshgate: MeshgateProcess
) -> Iterator[StandaloneBroker]:
    """Costs one more broker start (about 20-40 s), so it runs for the expiry tests only, on one line."""
    with started_broker(
        tmp_path_factory,
        pki,
        meshgate,
        "broker-short-refresh",
        line="4.0",
        refresh_check_seconds=REFRESH_CHECK_SECONDS,
    ) as instance:
        yield instance


def publishers(broker: StandaloneBroker, topic: str) -> int:
    status, body = broker.admin_get(f"/admin/v2/{topic.replace('://', '/')}/stats")
    assert status == 200, (status, body)
    return len(json.loads(body).get("publishers", []))


def wait_for_publishers(broker: StandaloneBroker, topic: str, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while publishers(broker, topic) != count:
        assert time.monotonic() < deadline, f"{topic} still has {publishers(broker, topic)} publishers"
        time.sleep(0.5)


def test_expired_session_is_challenged_and_closed(
    short_refresh_broker: StandaloneBroker, meshgate: MeshgateProcess
) -> None:
    topic, lifetime = _topic(), 6
    since = log_offset(meshgate)
    with token_client(short_refresh_broker, sa_token("writer", expires_in=lifetime)) as client:
        producer = client.create_producer(topic, send_timeout_millis=3000)
        producer.send(b"while the token is valid")
        assert publishers(short_refresh_broker, topic) == 1
        # The refresh check finds the session expired, challenges it, gets the same (expired) token back
        # and closes the connection; reconnecting with that token is refused as well.
        wait_for_publishers(short_refresh_broker, topic, 0, timeout=lifetime + 4 * REFRESH_CHECK_SECONDS + 10)
        with pytest.raises(pulsar.PulsarException):
            producer.send(b"after expiry")
    wait_for_log(meshgate, "authentication rejected: expired:", since)


def test_renewing_session_survives_the_challenge(short_refresh_broker: StandaloneBroker) -> None:
    topic, lifetime = _topic(), 5
    issued: list[str] = []

    def fresh_token() -> str:  # what a client re-reading its projected token file does
        issued.append(sa_token("writer", expires_in=lifetime))
        return issued[-1]

    with token_client(short_refresh_broker, fresh_token) as client:
        producer = client.create_producer(topic, send_timeout_millis=5000)
        producer.send(b"first token")
        time.sleep(lifetime + 3 * REFRESH_CHECK_SECONDS)
        producer.send(b"a later token")
        assert publishers(short_refresh_broker, topic) == 1
    assert len(issued) >= 2, "the broker's challenge asked the client for a new token"
