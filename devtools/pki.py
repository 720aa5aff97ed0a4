"""The dev PKI layout used by `make run` and the end-to-end tests.

One root CA for trust domain `meshgate.test`, a broker serving certificate (localhost / 127.0.0.1), the
broker's own client SVID (a super user), and a client SVID per example workload.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from devtools.devca import DevCA, LeafSpec, pem_bundle, write_leaf

TRUST_DOMAIN = "meshgate.test"
BROKER_ID = f"spiffe://{TRUST_DOMAIN}/ns/pulsar/sa/broker"
# The Pulsar proxy's own SVID: how it authenticates to the brokers of a cluster (devtools/cluster.py).
PROXY_ID = f"spiffe://{TRUST_DOMAIN}/ns/pulsar/sa/proxy"
WORKLOADS = {
    "writer": f"spiffe://{TRUST_DOMAIN}/ns/payments/sa/writer",
    "reader": f"spiffe://{TRUST_DOMAIN}/ns/payments/sa/reader",
}


@dataclass(frozen=True)
class DevPki:
    directory: Path
    ca: DevCA

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.pem"

    def cert(self, name: str) -> Path:
        return self.directory / f"{name}.cert.pem"

    def key(self, name: str) -> Path:
        return self.directory / f"{name}.key.pem"

    def issue(self, name: str, spec: LeafSpec, ca: DevCA | None = None) -> tuple[Path, Path]:
        issuer = ca or self.ca
        return write_leaf(self.directory, name, issuer.issue(spec), issuer)


def create(directory: Path) -> DevPki:
    """Mint a fresh CA and the standard certificates into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    pki = DevPki(directory, DevCA(f"meshgate dev CA ({TRUST_DOMAIN})"))
    pki.ca_file.write_bytes(pem_bundle([pki.ca.cert]))
    # RSA for the serving certificate: the broker's and the C++ client's TLS stacks both take it.
    pki.issue(
        "broker-server",
        LeafSpec(dns=["localhost"], ips=["127.0.0.1"], common_name="localhost", key_kind="rsa2048"),
    )
    pki.issue("broker-client", LeafSpec(uris=[BROKER_ID]))
    pki.issue("proxy-client", LeafSpec(uris=[PROXY_ID]))
    for name, spiffe_id in WORKLOADS.items():
        pki.issue(name, LeafSpec(uris=[spiffe_id]))
    return pki
