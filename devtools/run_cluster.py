"""`make run-cluster`: the local Pulsar cluster of the end-to-end suite, to try by hand.

ZooKeeper, a bookie, two brokers and a Pulsar proxy (devtools/cluster.py), each broker and the proxy with its
own meshgate sidecar, configured with the broker and proxy keys of deploy/helm/values-meshgate.yaml rendered
with the Apache chart, and the example policies plus the cluster suite's test rules. Ctrl-C stops it all.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from devtools import pki as dev_pki
from devtools.cluster import CLUSTER, ClusterSettings, PulsarCluster
from devtools.run import _say, _step, _stop_all, _wait_for_interrupt
from tests.conformance.oidc.mint import jwks_document
from tests.e2e.cluster.conftest import HERE, deployed_keys, meshgate_sections
from tests.e2e.conftest import K8S_JWKS_PATH, copy_policies
from tests.support.jwks_server import jwks_server
from tests.support.k8s_tokens import K8S_KEY

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var" / "cluster"


def main() -> int:
    shutil.rmtree(VAR, ignore_errors=True)
    _step(f"dev PKI (trust domain {dev_pki.TRUST_DOMAIN}) in {VAR / 'pki'}")
    pki = dev_pki.create(VAR / "pki")
    policies = copy_policies(VAR / "policies")
    for extra in (HERE / "policies").glob("*.yaml"):
        shutil.copy(extra, policies / extra.name)
    with jwks_server() as jwks:
        jwks.set(K8S_JWKS_PATH, jwks_document([K8S_KEY]))
        _step("rendering the Helm chart with deploy/helm/values-meshgate.yaml")
        broker_keys, proxy_keys = deployed_keys(VAR, pki)
        settings = ClusterSettings(
            pki=pki,
            workdir=VAR / "cluster",
            policy_dir=policies,
            meshgate_extra=meshgate_sections(jwks),
            broker_keys=broker_keys,
            proxy_keys=proxy_keys,
        )
        cluster = PulsarCluster(settings)
        try:
            _step(f"ZooKeeper, bookie, 2 brokers, proxy, 3 meshgate sidecars (logs: {settings.workdir})")
            took = cluster.start()
            _step(f"cluster ready in {took:.1f}s; creating tenant acme and namespace acme/payments")
            cluster.admin("PUT", "/admin/v2/tenants/acme", {"adminRoles": [], "allowedClusters": [CLUSTER]})
            cluster.admin("PUT", "/admin/v2/namespaces/acme/payments", None)
            _say(_howto(cluster, pki))
            _wait_for_interrupt()
        finally:
            _stop_all(cluster)
    return 0


def _howto(cluster: PulsarCluster, pki: dev_pki.DevPki) -> str:
    return f"""
The cluster serves through its proxy at {cluster.service_url_tls} (admin: {cluster.web_url_tls}).
A Kubernetes-style token for payments/writer (allowed to produce to persistent://acme/payments/*):

  .venv/bin/python - <<'PY'
  import pulsar
  from tests.support.k8s_tokens import sa_token
  client = pulsar.Client("{cluster.service_url_tls}",
      authentication=pulsar.AuthenticationToken(sa_token("writer")),
      tls_trust_certs_file_path="{pki.ca_file}")
  client.create_producer("persistent://acme/payments/orders").send(b"hello")
  client.close()
  PY

X.509-SVID workloads connect to a broker's TLS port directly, e.g. {cluster.brokers[0].service_url_tls}
with {pki.cert("writer")} / {pki.key("writer")} (docs/operations.md, "Behind the Pulsar proxy").
Each sidecar's audit log: {cluster.workdir}/<broker-N|proxy>/meshgate/audit.jsonl. Press Ctrl-C to stop.
"""


if __name__ == "__main__":
    sys.exit(main())
