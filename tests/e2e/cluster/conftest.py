"""One local Pulsar cluster shaped like the Helm chart's (ZooKeeper, a bookie, two brokers, a proxy; each
broker and the proxy with its own meshgate sidecar) per Pulsar line, shared by every test of this package.

The two lines' clusters run one after the other (package scope, one parameter at a time). Clients reach the
cluster through the proxy; tests that must talk to one broker do so explicitly.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools import chart
from devtools import pki as dev_pki
from devtools.broker import INTERCEPTORS_DIR
from devtools.cluster import CLUSTER, ClusterSettings, PulsarCluster
from tests.conformance.oidc.mint import jwks_document
from tests.e2e.conftest import _identity_and_oidc, copy_policies
from tests.support.brokers import LINES, per_line
from tests.support.jwks_server import JwksServer
from tests.support.k8s_tokens import service_account_token

HERE = Path(__file__).resolve().parent
SSO_ISSUER = "https://sso.meshgate.test"
SSO_KEY = "rsa1"
SSO_JWKS_PATH = "/sso/jwks.json"


# On the second line (4.2) only these run, to keep the tier short; the 4.0 cluster runs everything.
SMOKE = {
    "test_token_clients_produce_and_consume_through_the_proxy_on_the_other_broker",
    "test_oidc_group_rule_matches_through_the_proxy",
    "test_a_client_cannot_claim_to_be_the_proxy",
    "test_a_commit_disconnects_live_producers_and_denies_new_ones_on_both_brokers",
    "test_admin_cli_lists_both_brokers_through_the_proxy",
}


@pytest.fixture(autouse=True)
def _smoke_only_after_the_first_line(request: pytest.FixtureRequest) -> None:
    callspec = getattr(request.node, "callspec", None)
    line = callspec.params.get("cluster") if callspec else None
    if line is not None and line != LINES[0] and request.node.originalname not in SMOKE:
        pytest.skip(f"full proxy suite runs on pulsar {LINES[0]}; {line} runs the smoke subset")


def meshgate_sections(jwks: JwksServer) -> dict[str, object]:
    """The e2e identity and issuer settings plus an SSO issuer whose `groups` claim the policy matches."""
    jwks.set(SSO_JWKS_PATH, jwks_document([SSO_KEY]))
    sections = _identity_and_oidc(jwks)
    sso = {
        "issuer": SSO_ISSUER,
        "jwks_url": jwks.url(SSO_JWKS_PATH),
        "audiences": ["pulsar"],
        # {iss} first: the session's other SSO issuer (the agents one) may not render the same principals.
        "principal": "oidc:{iss}#{email}",
        "expose_claims": ["groups"],
    }
    oidc = dict(sections["oidc"])  # type: ignore[call-overload]
    oidc["issuers"] = [*oidc["issuers"], sso]
    return {**sections, "oidc": oidc}


def deployed_keys(work: Path, pki: dev_pki.DevPki) -> tuple[dict[str, str], dict[str, str]]:
    """The broker and proxy keys of deploy/helm/values-meshgate.yaml rendered with the chart, with the
    chart's identities and in-pod files replaced by the dev PKI's and local token files."""
    tokens = work / "tokens"
    tokens.mkdir(parents=True, exist_ok=True)
    # pulsar:broker is BROKER_ID (spiffe://meshgate.test/ns/pulsar/sa/broker).
    (tokens / "broker").write_text(service_account_token("pulsar", "broker", expires_in=7200))
    names = chart.LocalNames(
        broker_id=dev_pki.BROKER_ID,
        proxy_id=dev_pki.PROXY_ID,
        interceptors=INTERCEPTORS_DIR,
        broker_token=tokens / "broker",
        proxy_cert=pki.cert("proxy-client"),
        proxy_key=pki.key("proxy-client"),
        ca=pki.ca_file,
    )
    return chart.cluster_keys(chart.render(), names)


@per_line("package")
def cluster(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    pki: dev_pki.DevPki,
    token_jwks: JwksServer,
) -> Iterator[PulsarCluster]:
    line = str(request.param)
    work = tmp_path_factory.mktemp(f"cluster-{line}")
    policies = copy_policies(work / "policies")
    for extra in (HERE / "policies").glob("*.yaml"):
        shutil.copy(extra, policies / extra.name)
    broker_keys, proxy_keys = deployed_keys(work, pki)
    instance = PulsarCluster(
        ClusterSettings(
            pki=pki,
            workdir=work / "cluster",
            policy_dir=policies,
            line=line,
            meshgate_extra=meshgate_sections(token_jwks),
            broker_keys=broker_keys,
            proxy_keys=proxy_keys,
        )
    )
    seconds = instance.start()
    print(f"\npulsar {line} cluster (zookeeper, bookie, 2 brokers, proxy) ready in {seconds:.1f}s")
    try:
        _create_tenant_and_namespace(instance)
        yield instance
    finally:
        instance.stop()


def _create_tenant_and_namespace(cluster: PulsarCluster) -> None:
    """Through the proxy, as the broker's super-user identity: how an operator bootstraps the cluster."""
    status, body = cluster.admin(
        "PUT", "/admin/v2/tenants/acme", {"adminRoles": [], "allowedClusters": [CLUSTER]}
    )
    assert status in (204, 409), (status, body)
    status, body = cluster.admin("PUT", "/admin/v2/namespaces/acme/payments", None)
    assert status in (204, 409), (status, body)
