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

from devtools import pki as dev_pki
from devtools.cluster import CLUSTER, ClusterSettings, PulsarCluster
from tests.conformance.oidc.mint import jwks_document
from tests.e2e.conftest import LINES, _identity_and_oidc, copy_policies
from tests.support.jwks_server import JwksServer

HERE = Path(__file__).resolve().parent
SSO_ISSUER = "https://sso.meshgate.test"
SSO_KEY = "rsa1"
SSO_JWKS_PATH = "/sso/jwks.json"


def meshgate_sections(jwks: JwksServer) -> dict[str, object]:
    """The e2e identity and issuer settings plus an SSO issuer whose `groups` claim the policy matches."""
    jwks.set(SSO_JWKS_PATH, jwks_document([SSO_KEY]))
    sections = _identity_and_oidc(jwks)
    sso = {
        "issuer": SSO_ISSUER,
        "jwks_url": jwks.url(SSO_JWKS_PATH),
        "audiences": ["pulsar"],
        "principal": "user:{email}",
        "expose_claims": ["groups"],
    }
    oidc = dict(sections["oidc"])  # type: ignore[call-overload]
    oidc["issuers"] = [*oidc["issuers"], sso]
    return {**sections, "oidc": oidc}


def chart_keys() -> tuple[dict[str, object], dict[str, object]]:
    """The broker and proxy keys the cluster takes from the deployed configuration (filled in by the Helm
    render in test_deployed_config; here the recommended combination)."""
    return (
        {
            "proxyRoles": dev_pki.PROXY_ID,
            "superUserRoles": f"{dev_pki.BROKER_ID},{dev_pki.PROXY_ID}",
            "authenticateOriginalAuthData": "false",
        },
        {"forwardAuthorizationCredentials": "true", "proxyZeroCopyModeEnabled": "false"},
    )


@pytest.fixture(scope="package", params=LINES, ids=lambda line: f"pulsar-{line}")
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
    broker_keys, proxy_keys = chart_keys()
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
