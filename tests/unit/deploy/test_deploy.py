"""Packaging and deployment files, checked without a Docker engine or a cluster: hadolint on the Dockerfiles,
the Kubernetes manifests and the Helm values' pod fragments against the Kubernetes 1.30 API schemas
(kubernetes-validate, strict: unknown fields fail), every embedded meshgate config through the real parser,
and the dashboard's metric names against what the service and the shim actually export."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from meshgate.config.service import ServiceConfig, parse_config

from tests.support.exported_metrics import is_exported

ROOT = Path(__file__).resolve().parents[3]
K8S_VERSION = "1.30.0"  # native sidecars (init containers with restartPolicy: Always) are on by default
MANIFESTS = sorted((ROOT / "deploy" / "kubernetes").glob("*.yaml"))
VALUES = ROOT / "deploy" / "helm" / "values-meshgate.yaml"
IMAGE_CONFIG = ROOT / "deploy" / "image" / "meshgate.yaml"
SHIM_SOURCES = ROOT / "plugin-shim" / "src" / "main" / "java" / "dev" / "meshgate" / "pulsar"


def _docs(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "deploy/image/broker.Dockerfile"])
def test_hadolint_passes(dockerfile: str) -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run([hadolint, str(ROOT / dockerfile)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_is_multi_stage_non_root_and_health_checked() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, re.M)) == 2 and "COPY --from=build /opt/meshgate" in text
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1].split(":")[0] not in ("0", "root")
    image_config = yaml.safe_load((ROOT / "deploy" / "image" / "meshgate.yaml").read_text())
    port = image_config["http"]["listen"].rpartition(":")[2]
    assert re.search(rf"HEALTHCHECK .*\n?.*http://127\.0\.0\.1:{port}/healthz", text)
    assert "deploy/image/meshgate.yaml" in text and "/etc/meshgate/meshgate.yaml" in text
    parse_config(image_config, Path("/etc/meshgate"))


def test_dockerignore_keeps_the_build_context_small() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    assert lines[1] == "*" and {"!pyproject.toml", "!service/", "!deploy/image/"} <= set(lines)


@pytest.mark.parametrize("manifest", MANIFESTS, ids=lambda p: p.name)
def test_manifests_match_the_kubernetes_schemas(manifest: Path) -> None:
    for doc in _docs(manifest):
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def _config_map(name: str) -> dict[str, Any]:
    for manifest in MANIFESTS:
        for doc in _docs(manifest):
            if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == name:
                return doc
    raise AssertionError(f"no ConfigMap {name}")


def _sidecar_config() -> ServiceConfig:
    raw = yaml.safe_load(_config_map("meshgate-config")["data"]["meshgate.yaml"])
    return parse_config(raw, Path("/etc/meshgate"))


def test_sidecar_config_is_a_valid_meshgate_config() -> None:
    config = _sidecar_config()
    assert config.grpc.listen == "unix:/var/run/meshgate/meshgate.sock"
    assert config.http.policy_endpoints is False


def test_image_default_config_serves_grpc_on_the_sidecar_socket_only() -> None:
    """The image's own config, as the Kubernetes sidecar's: gRPC on the pod-local socket the shim's
    meshgateTargets names, and the policy endpoints off the network-facing HTTP port."""
    config = parse_config(yaml.safe_load(IMAGE_CONFIG.read_text()), Path("/etc/meshgate"))
    assert config.grpc.listen == _sidecar_config().grpc.listen == "unix:/var/run/meshgate/meshgate.sock"
    assert not config.grpc.plaintext_network and not config.grpc.insecure_plaintext_network
    assert config.http.policy_endpoints is False


def _providers(settings: dict[str, str]) -> set[str]:
    return {name.rpartition(".")[2] for name in settings["authenticationProviders"].split(",")}


@pytest.mark.parametrize("where", ["kubernetes", "helm"])
def test_l5d_client_id_and_the_broker_providers_agree(where: str) -> None:
    """The service trusts `l5d-client-id` exactly when the broker has the provider that forwards it."""
    if where == "kubernetes":
        settings = _config_map("pulsar-broker-meshgate")["data"]
    else:
        settings = yaml.safe_load(VALUES.read_text())["broker"]["configData"]
    mesh_header = "MeshgateMeshHeaderAuthenticationProvider" in _providers(settings)
    assert mesh_header == _sidecar_config().identity.l5d_client_id


def _broker_pod() -> dict[str, Any]:
    for doc in _docs(ROOT / "deploy" / "kubernetes" / "broker.yaml"):
        if doc["kind"] == "StatefulSet":
            return dict(doc["spec"]["template"])
    raise AssertionError("no StatefulSet")


def test_broker_pod_wiring() -> None:
    pod = _broker_pod()
    annotations = pod["metadata"]["annotations"]
    assert annotations["linkerd.io/inject"] == "enabled"
    assert annotations["config.linkerd.io/skip-inbound-ports"] == "6651"
    sidecars = {c["name"]: c for c in pod["spec"]["initContainers"]}
    assert all(c["restartPolicy"] == "Always" for c in sidecars.values())
    mounts = {m["name"]: m["mountPath"] for c in pod["spec"]["containers"] for m in c["volumeMounts"]}
    assert mounts["meshgate-socket"] == "/var/run/meshgate"
    assert sidecars["meshgate"]["readinessProbe"]["httpGet"]["path"] == "/readyz"


def _shim_keys() -> set[str]:
    source = (SHIM_SOURCES / "MeshgateConfig.java").read_text()
    return set(re.findall(r'"(meshgate[A-Z]\w+)"', source))


def _check_broker_settings(settings: dict[str, str]) -> None:
    for key in ("authenticationProviders", "authorizationProvider"):
        for name in settings[key].split(","):
            assert (SHIM_SOURCES / f"{name.rpartition('.')[2]}.java").exists(), name
    prefixed = {k.removeprefix("PULSAR_PREFIX_") for k in settings if k.startswith("PULSAR_PREFIX_")}
    assert "meshgateTargets" in prefixed and prefixed <= _shim_keys()
    assert settings["PULSAR_PREFIX_meshgateTargets"] == "unix:/var/run/meshgate/meshgate.sock"


def test_broker_settings_load_the_shim_with_its_real_keys() -> None:
    _check_broker_settings(_config_map("pulsar-broker-meshgate")["data"])
    _check_broker_settings(yaml.safe_load(VALUES.read_text())["broker"]["configData"])


def test_helm_values_pod_fragments_match_the_schemas() -> None:
    broker = yaml.safe_load(VALUES.read_text())["broker"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "values-check", "annotations": broker["annotations"]},
        "spec": {
            "initContainers": broker["initContainers"],
            "containers": [
                {"name": "broker", "image": "broker", "volumeMounts": broker["extraVolumeMounts"]}
            ],
            "volumes": broker["extraVolumes"],
        },
    }
    kubernetes_validate.validate(pod, K8S_VERSION, strict=True)


def test_dashboard_queries_use_real_metric_names() -> None:
    dashboard = json.loads((ROOT / "observability" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    names = {n for e in exprs for n in re.findall(r"\b([a-z][a-z0-9_]*)(?:\{|\[|\))", e) if "_" in n}
    names -= {"histogram_quantile", "label_values", "http_status", "route_name"}
    for name in (n for n in names if n.startswith("meshgate_")):
        assert is_exported(name), f"{name} is not exported by meshgate or its broker plugin"
    assert {
        "pulsar_msg_backlog",
        "pulsar_subscription_back_log",
        "outbound_http_route_retry_requests_total",
    } <= names


def test_prometheus_scrape_config_has_the_three_jobs() -> None:
    jobs = yaml.safe_load((ROOT / "observability" / "prometheus-scrape.yaml").read_text())["scrape_configs"]
    assert [j["job_name"] for j in jobs] == ["meshgate", "pulsar-broker", "linkerd-proxy"]
