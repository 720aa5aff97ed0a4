"""Render the Apache Pulsar Helm chart with meshgate's values, and read back what the cluster must run with.

The chart is the vendored copy at ../shared/vendor/pulsar-helm-chart (chart 4.7.0, Pulsar 4.0.12). Its
optional `victoria-metrics-k8s-stack` dependency is not vendored, so rendering uses a temporary copy whose
Chart.yaml has no `dependencies:`. Helm builds from the Go module proxy into .cache/helm (`make helm`).

`deployed_keys()` is the one place that says which rendered keys the local cluster (devtools/cluster.py) takes
over, and how the chart's in-cluster names (service-account SPIFFE IDs, file paths) become local ones.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT.parent / "shared" / "vendor" / "pulsar-helm-chart" / "charts" / "pulsar"
VALUES = ROOT / "deploy" / "helm" / "values-meshgate.yaml"
HELM_VERSION = "4.3.2"
HELM = ROOT / ".cache" / "helm" / HELM_VERSION / "helm"
RELEASE = "pulsar"
NAMESPACE = "pulsar"
KUBE_VERSION = "1.31.0"  # native sidecars (init containers with restartPolicy: Always) need >= 1.29

# Keys of broker.conf / proxy.conf that decide who may do what, and meshgate's own (PULSAR_PREFIX_meshgate*).
AUTH_KEYS = (
    "authenticationEnabled",
    "authenticationProviders",
    "authorizationEnabled",
    "authorizationProvider",
    "superUserRoles",
    "proxyRoles",
    "authenticateOriginalAuthData",
    "forwardAuthorizationCredentials",
    "authenticationRefreshCheckSeconds",
    "brokerInterceptors",
    "brokerClientAuthenticationPlugin",
    "brokerClientAuthenticationParameters",
    "brokerInterceptorsDirectory",
    "proxyZeroCopyModeEnabled",
    "tlsEnabledWithBroker",
)
# The chart's service accounts (release `pulsar`) and where their tokens and the revoker sit in a pod.
CHART_BROKER_ID = "spiffe://cluster.local/ns/pulsar/sa/pulsar-broker-acct"
CHART_PROXY_ID = "spiffe://cluster.local/ns/pulsar/sa/pulsar-proxy"
POD_TOKEN = "/var/run/secrets/pulsar/token/token"
POD_INTERCEPTORS = "/pulsar/interceptors"
POD_PROXY_SVID = "/pulsar/certs/proxy-svid"
POD_CA = "/pulsar/certs/ca/ca.crt"
PREFIX = "PULSAR_PREFIX_"


def render(values: Path = VALUES, chart: Path = CHART) -> list[dict[str, Any]]:
    """`helm template` of the chart with `values`: every manifest, as parsed YAML."""
    if not HELM.exists():
        raise FileNotFoundError(f"{HELM} missing: run `make helm` first")
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "pulsar"
        shutil.copytree(chart, copy)
        meta = yaml.safe_load((copy / "Chart.yaml").read_text())
        meta.pop("dependencies", None)
        (copy / "Chart.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
        command = [str(HELM), "template", RELEASE, str(copy), "-n", NAMESPACE, "-f", str(values)]
        result = subprocess.run(
            [*command, "--kube-version", KUBE_VERSION], capture_output=True, text=True, check=False
        )
    if result.returncode != 0:
        raise RuntimeError(f"helm template failed:\n{result.stderr}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def config_map(manifests: list[dict[str, Any]], name: str) -> dict[str, str]:
    found = [m for m in manifests if m.get("kind") == "ConfigMap" and m["metadata"]["name"] == name]
    if len(found) != 1:
        raise LookupError(f"rendered chart has {len(found)} ConfigMaps named {name!r}")
    return {str(k): str(v) for k, v in (found[0].get("data") or {}).items()}


def conf_keys(data: dict[str, str]) -> dict[str, str]:
    """The broker.conf / proxy.conf keys a ConfigMap sets, as bin/apply-config-from-env.py applies them
    (PULSAR_PREFIX_ keys become keys of their own)."""
    keys = {k: v for k, v in data.items() if not k.startswith(PREFIX)}
    keys.update({k.removeprefix(PREFIX): v for k, v in data.items() if k.startswith(PREFIX)})
    return keys


@dataclass(frozen=True)
class Localize:
    """How in-cluster names become the local cluster's: SPIFFE IDs of the chart's service accounts map to the
    dev PKI's identities, in-pod file paths to local files."""

    identities: dict[str, str]
    paths: dict[str, str]

    def __call__(self, value: str) -> str:
        for old, new in {**self.identities, **self.paths}.items():
            value = value.replace(old, new)
        return value


def deployed_keys(manifests: list[dict[str, Any]], component: str, localize: Localize) -> dict[str, str]:
    """The auth and meshgate keys of the rendered `component` ConfigMap (`broker` or `proxy`), localized."""
    keys = conf_keys(config_map(manifests, f"{RELEASE}-{component}"))
    chosen = {k: v for k, v in keys.items() if k in AUTH_KEYS or k.startswith("meshgate")}
    return {k: localize(v.strip()) for k, v in chosen.items()}


@dataclass(frozen=True)
class LocalNames:
    """The local cluster's counterparts of the chart's names: its identities and each component's token."""

    broker_id: str
    proxy_id: str
    interceptors: Path
    broker_token: Path
    proxy_cert: Path
    proxy_key: Path
    ca: Path


def cluster_keys(manifests: list[dict[str, Any]], names: LocalNames) -> tuple[dict[str, str], dict[str, str]]:
    """(broker keys, proxy keys) the local cluster runs with, taken from the rendered chart."""
    identities = {CHART_BROKER_ID: names.broker_id, CHART_PROXY_ID: names.proxy_id}
    files = {POD_INTERCEPTORS: str(names.interceptors), POD_CA: str(names.ca)}
    broker = Localize(identities, {POD_TOKEN: str(names.broker_token), **files})
    proxy_svid = {
        f"{POD_PROXY_SVID}/tls.crt": str(names.proxy_cert),
        f"{POD_PROXY_SVID}/tls.key": str(names.proxy_key),
    }
    proxy = Localize(identities, {**proxy_svid, **files})
    return deployed_keys(manifests, "broker", broker), deployed_keys(manifests, "proxy", proxy)
