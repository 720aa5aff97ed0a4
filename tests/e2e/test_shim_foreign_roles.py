"""Another provider's role cannot cross into meshgate's namespaces (threat-model row 16.2), on a real broker.

The broker here loads Pulsar's own `AuthenticationProviderToken` (HS256, `sub` is the role) beside meshgate's
providers, as an operator migrating from Pulsar tokens would. Whoever holds that provider's key, or picks
their role in such a provider, could write any `sub`: a token whose `sub` is the writer workload's SPIFFE ID
must not produce where the writer's certificate may, and one whose `sub` is the broker's own SPIFFE ID (a
super-user role) must get nothing on the admin API. A plain role from that provider still gets exactly what
the policy grants it (tests/e2e/policies/foreign_roles_e2e.yaml).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator

import pulsar
import pytest

from devtools import pki as dev_pki
from devtools.broker import StandaloneBroker
from devtools.service import MeshgateProcess
from tests.support.brokers import per_line, started_broker
from tests.support.pulsar_clients import tls_client, token_client

pytestmark = pytest.mark.e2e

WRITER = f"spiffe://{dev_pki.TRUST_DOMAIN}/ns/payments/sa/writer"
SECRET = hashlib.sha256(b"meshgate e2e: the other provider's HS256 key").digest()
MESHGATE_PROVIDERS = (
    "dev.meshgate.pulsar.MeshgateTlsAuthenticationProvider,"
    "dev.meshgate.pulsar.MeshgateTokenAuthenticationProvider,"
    "dev.meshgate.pulsar.MeshgateMeshHeaderAuthenticationProvider"
)
PULSAR_TOKEN_PROVIDER = "org.apache.pulsar.broker.authentication.AuthenticationProviderToken"


def pulsar_token(sub: str) -> str:
    """A token of Pulsar's own token provider, as `pulsar tokens create --secret-key` makes it."""

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    signed = b64(json.dumps({"alg": "HS256"}).encode()) + "." + b64(json.dumps({"sub": sub}).encode())
    return signed + "." + b64(hmac.new(SECRET, signed.encode(), hashlib.sha256).digest())


@per_line("module")
def two_providers(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    pki: dev_pki.DevPki,
    meshgate: MeshgateProcess,
) -> Iterator[StandaloneBroker]:
    """A broker with Pulsar's token provider beside meshgate's (one more broker start per line)."""
    line = str(request.param)
    extra = {
        "authenticationProviders": f"{MESHGATE_PROVIDERS},{PULSAR_TOKEN_PROVIDER}",
        "tokenSecretKey": "data:;base64," + base64.b64encode(SECRET).decode(),
    }
    with started_broker(
        tmp_path_factory, pki, meshgate, f"broker-two-providers-{line}", line=line, extra=extra
    ) as instance:
        yield instance


def _topic(prefix: str) -> str:
    return f"persistent://acme/payments/{prefix}-{uuid.uuid4().hex[:8]}"


def _crossings(broker: StandaloneBroker) -> float:
    """The broker's count of shim denials with reason principal_crosses_kind."""
    wanted = ('reason="principal_crosses_kind"', 'result="deny"')
    for line in broker.metrics().splitlines():
        if line.startswith("meshgate_shim_decisions_total{") and all(label in line for label in wanted):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _get(broker: StandaloneBroker, path: str, token: str) -> int:
    request = urllib.request.Request(broker.web_url + path, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_a_token_naming_a_workload_cannot_produce_where_the_workload_may(
    two_providers: StandaloneBroker, pki: dev_pki.DevPki
) -> None:
    topic = _topic("orders")
    with tls_client(two_providers, pki, "writer") as writer:
        writer.create_producer(topic).send(b"from the writer's certificate")
    before = _crossings(two_providers)
    with (
        token_client(two_providers, pulsar_token(WRITER)) as forged,
        pytest.raises(pulsar.AuthorizationError),
    ):
        forged.create_producer(topic)
    assert _crossings(two_providers) > before
    log = two_providers.log.read_text(errors="replace")
    assert f"for {WRITER}: principal_crosses_kind: {WRITER} is in the spiffe namespace" in log


def test_a_token_naming_the_broker_is_no_super_user(two_providers: StandaloneBroker) -> None:
    # The broker's identity is in superUserRoles: asked about directly, it would be allowed without a call.
    assert _get(two_providers, "/admin/v2/tenants", pulsar_token(dev_pki.BROKER_ID)) in (401, 403)
    status, _ = two_providers.admin_request("GET", "/admin/v2/tenants", None, "broker-client")
    assert status == 200, "the broker's own certificate still is the super-user"


def test_a_plain_role_token_gets_what_the_policy_grants_its_role(two_providers: StandaloneBroker) -> None:
    with token_client(two_providers, pulsar_token("batch-importer")) as importer:
        importer.create_producer(_topic("imports")).send(b"imported")
        with pytest.raises(pulsar.AuthorizationError):
            importer.create_producer(_topic("orders"))
    # ops-dashboard may inspect everything (policies/examples/admins.yaml), over HTTP too.
    assert (
        _get(two_providers, "/admin/v2/namespaces/acme/payments/topics", pulsar_token("ops-dashboard")) == 200
    )
    assert _get(two_providers, "/admin/v2/namespaces/acme/payments/topics", pulsar_token("nobody")) in (
        401,
        403,
    )
