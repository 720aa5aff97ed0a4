"""The deployed configuration is the tested configuration: deploy/helm/values-meshgate.yaml rendered with the
vendored Apache Pulsar Helm chart (chart 4.7.0) gives valid Kubernetes manifests whose broker and proxy
ConfigMaps carry the keys the local cluster of tests/e2e/cluster runs with (devtools.chart.cluster_keys), and
deploy/kubernetes/ loads the shim into its brokers with the same keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from devtools import chart

ROOT = Path(__file__).resolve().parents[3]
# Kinds of the chart's optional integrations, outside the Kubernetes API: no schema to check them against.
CRD_KINDS = {"VMPodScrape", "Certificate"}
SHIM = "dev.meshgate.pulsar."


@pytest.fixture(scope="module")
def manifests() -> list[dict[str, Any]]:
    return chart.render()


def test_every_rendered_manifest_matches_the_kubernetes_schemas(manifests: list[dict[str, Any]]) -> None:
    checked = 0
    for manifest in manifests:
        if manifest["kind"] in CRD_KINDS:
            continue
        kubernetes_validate.validate(manifest, chart.KUBE_VERSION, strict=True)
        checked += 1
    assert checked >= 40, checked


def test_brokers_load_the_shim_revoker_and_know_the_proxy(manifests: list[dict[str, Any]]) -> None:
    broker = chart.conf_keys(chart.config_map(manifests, "pulsar-broker"))
    assert broker["authorizationProvider"] == SHIM + "MeshgateAuthorizationProvider"
    providers = broker["authenticationProviders"].split(",")
    assert {SHIM + "MeshgateTlsAuthenticationProvider", SHIM + "MeshgateTokenAuthenticationProvider"} <= set(
        providers
    )
    # meshgate-config.yaml turns on l5d_client_id, which only the mesh-header provider hands to meshgate.
    assert SHIM + "MeshgateMeshHeaderAuthenticationProvider" in providers
    assert (broker["brokerInterceptors"], broker["authenticationRefreshCheckSeconds"]) == (
        "meshgate-session-revoker",
        "1",
    )
    assert broker["brokerInterceptorsDirectory"] == chart.POD_INTERCEPTORS
    assert broker["proxyRoles"] == chart.CHART_PROXY_ID
    assert set(broker["superUserRoles"].split(",")) == {chart.CHART_BROKER_ID, chart.CHART_PROXY_ID}
    assert broker["authenticateOriginalAuthData"] == "true"
    assert broker["brokerClientAuthenticationParameters"] == f"file://{chart.POD_TOKEN}"


def test_the_proxy_authenticates_with_meshgate_and_forwards_credentials(
    manifests: list[dict[str, Any]],
) -> None:
    proxy = chart.conf_keys(chart.config_map(manifests, "pulsar-proxy"))
    assert proxy["authenticationEnabled"] == "true" and proxy["authorizationEnabled"] == "false"
    assert proxy["forwardAuthorizationCredentials"] == "true" and proxy["proxyZeroCopyModeEnabled"] == "false"
    assert proxy["authenticationProviders"].startswith(SHIM)
    assert proxy["meshgateTargets"] == "unix:/var/run/meshgate/meshgate.sock"
    assert proxy["tlsEnabledInProxy"] == "true" and proxy["servicePortTls"] == "6651"
    assert chart.CHART_PROXY_ID not in proxy["superUserRoles"]
    # The proxy's admin forwarding authenticates to the brokers with a client certificate only.
    assert proxy["tlsEnabledWithBroker"] == "true"
    assert proxy["brokerClientAuthenticationPlugin"].endswith("AuthenticationTls")
    assert chart.POD_PROXY_SVID in proxy["brokerClientAuthenticationParameters"]


def _pod(manifests: list[dict[str, Any]], name: str) -> dict[str, Any]:
    found = [m for m in manifests if m["kind"] == "StatefulSet" and m["metadata"]["name"] == name]
    return dict(found[0]["spec"]["template"])


@pytest.mark.parametrize(
    ("name", "credential"),
    [("pulsar-broker", chart.POD_TOKEN), ("pulsar-proxy", chart.POD_PROXY_SVID + "/x")],
)
def test_brokers_and_proxies_run_a_meshgate_sidecar_and_have_their_credential(
    manifests: list[dict[str, Any]], name: str, credential: str
) -> None:
    spec = _pod(manifests, name)["spec"]
    sidecars = {c["name"]: c for c in spec["initContainers"] if c.get("restartPolicy") == "Always"}
    assert {"meshgate", "git-sync"} <= set(sidecars)
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["meshgate-trust-bundle"]["configMap"]["name"] == "meshgate-trust-bundle"
    mounts = {m["mountPath"] for m in spec["containers"][0]["volumeMounts"]}
    assert {"/var/run/meshgate", str(Path(credential).parent)} <= mounts


def test_the_broker_token_is_a_projected_service_account_token(manifests: list[dict[str, Any]]) -> None:
    volumes = {v["name"]: v for v in _pod(manifests, "pulsar-broker")["spec"]["volumes"]}
    token = volumes["pulsar-token"]["projected"]["sources"][0]["serviceAccountToken"]
    assert token["audience"] == "pulsar"


def test_service_accounts_are_the_identities_the_keys_name(manifests: list[dict[str, Any]]) -> None:
    accounts = {m["metadata"]["name"] for m in manifests if m["kind"] == "ServiceAccount"}
    for spiffe_id in (chart.CHART_BROKER_ID, chart.CHART_PROXY_ID):
        assert spiffe_id.rpartition("/sa/")[2] in accounts


def test_the_meshgate_superuser_is_the_broker_the_chart_runs() -> None:
    config_map = yaml.safe_load((ROOT / "deploy" / "kubernetes" / "meshgate-config.yaml").read_text())
    config = yaml.safe_load(config_map["data"]["meshgate.yaml"])
    assert config["policy"]["superusers"] == [chart.CHART_BROKER_ID]


def test_plain_manifests_load_the_shim_with_the_charts_keys(manifests: list[dict[str, Any]]) -> None:
    docs = yaml.safe_load_all((ROOT / "deploy" / "kubernetes" / "broker-config.yaml").read_text())
    plain = chart.conf_keys(next(d for d in docs if d)["data"])
    rendered = chart.conf_keys(chart.config_map(manifests, "pulsar-broker"))
    for key in chart.AUTH_KEYS:
        assert plain.get(key) == rendered.get(key), key
    shim_keys = {k for k in rendered if k.startswith("meshgate")}
    assert {k: plain[k] for k in shim_keys} == {k: rendered[k] for k in shim_keys}
