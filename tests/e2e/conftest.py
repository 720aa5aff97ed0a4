"""End-to-end fixtures: a real meshgate process and a real Pulsar standalone broker with the shim.

The broker runs once per Pulsar line (4.0 LTS and 4.2) for the whole session; MESHGATE_PULSAR_LINES
(comma-separated, default "4.0,4.2") narrows that (tests/support/brokers.py).
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pulsar
import pytest

from devtools import pki as dev_pki
from devtools.broker import BrokerSettings, StandaloneBroker
from devtools.devca import LeafSpec
from devtools.service import MeshgateProcess, write_config
from tests.conformance.oidc.mint import jwks_document
from tests.e2e.realid import RealId, build
from tests.support.brokers import per_line, started_broker
from tests.support.jwks_server import JwksServer, jwks_server
from tests.support.k8s_tokens import K8S_ISSUER, K8S_KEY

ROOT = Path(__file__).resolve().parents[2]
# Extra workload identities for the shim tests (rules in tests/e2e/policies/shim_e2e.yaml).
SHIM_IDENTITIES = {
    "viewer": f"spiffe://{dev_pki.TRUST_DOMAIN}/ns/ops/sa/viewer",
    "acme-admin": f"spiffe://{dev_pki.TRUST_DOMAIN}/ns/acme-admin/sa/admin",
    "stranger": f"spiffe://{dev_pki.TRUST_DOMAIN}/ns/stranger/sa/nobody",
}
TEST_POLICIES = Path(__file__).resolve().parent / "policies"
# A Kubernetes-style token issuer the session service trusts (K8S_ISSUER, K8S_KEY); tests mint its tokens
# with tests/support/k8s_tokens.py.
K8S_JWKS_PATH = "/k8s/jwks.json"
# An SSO issuer whose tokens carry RFC 8693 delegation chains (`act`), for test_agents_e2e.py: Keycloak 26.5
# cannot issue them (docs/oidc.md), so the tests mint them with the conformance key `rsa1`.
AGENTS_ISSUER = "https://agents.meshgate.test"
AGENTS_KEY = "rsa1"
AGENTS_JWKS_PATH = "/agents/jwks.json"


@pytest.fixture(scope="session")
def token_jwks() -> Iterator[JwksServer]:
    with jwks_server() as server:
        server.set(K8S_JWKS_PATH, jwks_document([K8S_KEY]))
        server.set(AGENTS_JWKS_PATH, jwks_document([AGENTS_KEY]))
        yield server


def _identity_and_oidc(jwks: JwksServer) -> dict[str, object]:
    issuer = {
        "issuer": K8S_ISSUER,
        "jwks_url": jwks.url(K8S_JWKS_PATH),
        "audiences": ["pulsar"],
        "kind": "kubernetes",
        "trust_domain": dev_pki.TRUST_DOMAIN,
    }
    agents = {
        "issuer": AGENTS_ISSUER,
        "jwks_url": jwks.url(AGENTS_JWKS_PATH),
        "audiences": ["pulsar"],
        "expose_claims": ["groups"],
    }
    linkerd = {"trust_domain": dev_pki.TRUST_DOMAIN}  # Linkerd DNS-form names of the dev mesh
    # l5d-client-id from a loopback peer: the broker's HTTP port as the pod's Linkerd proxy reaches it.
    identity = {"linkerd": linkerd, "l5d_client_id": True}
    return {"identity": identity, "oidc": {"issuers": [issuer, agents]}}


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dev_pki.DevPki:
    created = dev_pki.create(tmp_path_factory.mktemp("pki"))
    for name, spiffe_id in SHIM_IDENTITIES.items():
        created.issue(name, LeafSpec(uris=[spiffe_id]))
    return created


def copy_policies(target: Path) -> Path:
    """policies/examples plus the test-only rules of tests/e2e/policies, in a folder a test may change."""
    shutil.copytree(ROOT / "policies" / "examples", target)
    for extra in TEST_POLICIES.glob("*.yaml"):
        shutil.copy(extra, target / extra.name)
    return target


def example_service_config(work: Path, ca_file: Path, extra: dict[str, object] | None = None) -> Path:
    """`work`/meshgate.yaml for a service of its own: the example policies (copied, `copy_policies`), the dev
    CA's bundle for the trust domain and the broker as super-user, plus `extra` sections."""
    return write_config(
        work / "meshgate.yaml",
        port=0,
        policy_dir=copy_policies(work / "policies"),
        trust_bundles=[f"{dev_pki.TRUST_DOMAIN}={ca_file}"],
        superusers=[dev_pki.BROKER_ID],
        extra=extra,
    )


@contextmanager
def instead_of(session: StandaloneBroker, settings: BrokerSettings) -> Iterator[StandaloneBroker]:
    """A module's own broker (namespace acme/payments ready) while the session broker is stopped, then the
    session broker again: one broker at a time on a 2-core machine."""
    own = StandaloneBroker(settings)
    session.stop()
    try:
        own.start()
        own.create_namespaces("acme/payments")
        yield own
    finally:
        own.stop()
        session.start()
        session.create_namespaces("acme/payments")


def produce_once(broker: StandaloneBroker, pki: dev_pki.DevPki, name: str, prefix: str) -> None:
    """As the dev PKI's `name` over TLS: a producer on a new topic `acme/payments/<prefix>-…`, one message."""
    client = pulsar.Client(
        broker.service_url_tls,
        authentication=pulsar.AuthenticationTLS(str(pki.cert(name)), str(pki.key(name))),
        tls_trust_certs_file_path=str(pki.ca_file),
        operation_timeout_seconds=20,  # the first topic of a fresh broker also creates its system topic
    )
    try:
        client.create_producer(f"persistent://acme/payments/{prefix}-{uuid.uuid4().hex[:8]}").send(b"x")
    finally:
        client.close()


@pytest.fixture(scope="session")
def meshgate(
    tmp_path_factory: pytest.TempPathFactory, pki: dev_pki.DevPki, token_jwks: JwksServer
) -> Iterator[MeshgateProcess]:
    work = tmp_path_factory.mktemp("meshgate")
    config = example_service_config(work, pki.ca_file, _identity_and_oidc(token_jwks))
    service = MeshgateProcess(config, work / "meshgate.log")
    service.start()
    yield service
    service.stop()


@per_line("session")
def broker(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    pki: dev_pki.DevPki,
    meshgate: MeshgateProcess,
) -> Iterator[StandaloneBroker]:
    line = str(request.param)
    with started_broker(
        tmp_path_factory,
        pki,
        meshgate,
        f"broker-{line}",
        line=line,
        # Expired credentials are challenged within a second (MeshgateAuthenticationState.isExpired).
        refresh_check_seconds=1,
        # Admin questions get 1 s instead of 100 ms: on a shared 2-CPU machine a delegated token's admin call
        # sometimes took longer, and a question the service could not decide is a 503 ("meshgate could not
        # decide"), not the policy's 401/403 these tests assert.
        extra={"meshgateDeadlineMillis": "1000"},
    ) as instance:
        yield instance


# --- SPIRE and Keycloak (issue #18): started once, when the first test that needs them asks -----------------


@pytest.fixture(scope="session")
def realid() -> Iterator[RealId]:
    """SPIRE (server + agent), Keycloak, and a meshgate + Pulsar 4.0 broker that trust them. Started on first
    use, never at collection: `pytest --collect-only` starts nothing, and a run that never asks starts
    nothing that could outlive it."""
    stack = build(Path(tempfile.mkdtemp(prefix="meshgate-realid-")))
    print(f"\nrealid stack start-up seconds: {stack.timings}")
    yield stack
    stack.stop()  # the work directory (logs) stays in /tmp for a failure's post-mortem
