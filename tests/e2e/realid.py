"""The real identity infrastructure of issue #18 for the end-to-end tests: SPIRE and Keycloak, with one
meshgate and one Pulsar 4.0 broker that trust them.

meshgate takes its trust bundles from the SPIRE agent's Workload API and its SSO keys from Keycloak's
discovery document. The broker's own client identity is an X.509-SVID from SPIRE. Its TLS port checks that a
client holds the key of the certificate it presents (`tlsAllowInsecureConnection=true`, test only), and
leaves the chain to meshgate, so what these tests see is meshgate's own check of SPIRE's bundles.

Everything starts once per test session, in a background thread begun when collection finds a test that
uses it (`start_in_background`), so Keycloak's JVM and the broker's start while the session brokers start.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from spiffe import WorkloadApiClient, X509Svid
from spiffe.workloadapi.errors import FetchX509SvidError

from devtools import pki as dev_pki
from devtools.broker import BrokerSettings, StandaloneBroker
from devtools.devca import DevCA, pem_bundle
from devtools.keycloak import Keycloak, KeycloakUnavailable
from devtools.service import MeshgateProcess, write_config
from devtools.spire import JWT_ISSUER, TRUST_DOMAIN, Spire

HERE = Path(__file__).resolve().parent
POLICY_TEMPLATE = HERE / "realid_policies" / "realid.yaml"
MESHGATE_ID = f"spiffe://{TRUST_DOMAIN}/ns/meshgate/sa/meshgate"
FEDERATED_TD = "other.test"
PARTNER_ID = f"spiffe://{FEDERATED_TD}/ns/partner/sa/feed"
# identity.max_skew_seconds of the realid meshgate: an expired SVID's session ends this long after notAfter.
REALID_MAX_SKEW_SECONDS = 2
# Test-speed JWKS settings: Keycloak answers `Cache-Control: no-cache`, so the refresh runs every
# refresh_min_seconds; a verified token is remembered for one second.
OIDC_SETTINGS = {
    "refresh_min_seconds": 2,
    "refresh_default_seconds": 2,
    "retry_seconds": 2,
    "unknown_kid_interval_seconds": 1,
    "token_cache_ttl_seconds": 1,
}


# JWT-SVIDs: a workload credential kind, keys from the agent's JWT bundles (Workload API).
SPIRE_JWT_ISSUER = {
    "issuer": JWT_ISSUER,
    "kind": "spiffe",
    "trust_domain": TRUST_DOMAIN,
    "audiences": ["pulsar"],
    "algorithms": ["ES256", "RS256"],
}


def uid_selector() -> str:
    return f"unix:uid:{os.getuid()}"


def keycloak_issuer_config(keycloak: Keycloak) -> dict[str, object]:
    return {
        "issuer": keycloak.issuer,
        "audiences": ["pulsar"],
        "principal": "oidc:kc/{preferred_username}",
        "expose_claims": ["groups", "azp"],
    }


@dataclass
class RealId:
    """What the realid tests use; `timings` holds the start-up seconds of each system."""

    workdir: Path
    pki: dev_pki.DevPki
    spire: Spire
    keycloak: Keycloak
    partner_ca: DevCA
    broker_svid: SvidFiles | None = None
    meshgate: MeshgateProcess | None = None
    broker: StandaloneBroker | None = None
    keycloak_error: str = ""
    timings: dict[str, float] = field(default_factory=dict)

    def svid(self, spiffe_id: str, timeout: float = 30.0) -> X509Svid:
        """The current X.509-SVID for `spiffe_id` from the agent (this process matches every uid entry)."""
        return wait_for_svid(self.spire, spiffe_id, timeout)

    def stop(self) -> None:
        for stop in (
            self.broker.stop if self.broker else None,
            self.meshgate.stop if self.meshgate else None,
            self.keycloak.stop,
            self.broker_svid.close if self.broker_svid else None,
            self.spire.stop,
        ):
            if stop is not None:
                stop()


def wait_for_svid(spire: Spire, spiffe_id: str, timeout: float) -> X509Svid:
    deadline = time.monotonic() + timeout
    client = WorkloadApiClient(socket_path=spire.workload_api)
    try:
        while True:
            try:  # "no identity issued" until the agent has synced the first entry (every 5 s)
                svids = {str(s.spiffe_id): s for s in client.fetch_x509_svids(timeout=10)}
            except FetchX509SvidError:
                svids = {}
            if spiffe_id in svids:
                return svids[spiffe_id]
            if time.monotonic() > deadline:
                raise TimeoutError(f"no SVID for {spiffe_id} from the agent; have {sorted(svids)}")
            time.sleep(0.5)
    finally:
        client.close()


def write_svid(svid: X509Svid, directory: Path, stem: str) -> tuple[Path, Path]:
    """Cert chain and PKCS#8 key PEM files, replaced atomically (what spiffe-helper does for a workload)."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / f"{stem}.cert.pem", directory / f"{stem}.key.pem"
    key_pem = svid.private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    for path, content in ((cert, pem_bundle(svid.cert_chain)), (key, key_pem)):
        partial = path.with_suffix(".partial")
        partial.write_bytes(content)
        partial.replace(path)
    return cert, key


class SvidFiles:
    """Follows one SPIFFE ID on the Workload API stream and rewrites its PEM files on every new SVID."""

    def __init__(self, spire: Spire, spiffe_id: str, directory: Path, stem: str = "svid") -> None:
        self.spiffe_id = spiffe_id
        self.stem = stem
        self.cert, self.key = directory / f"{stem}.cert.pem", directory / f"{stem}.key.pem"
        self.directory = directory
        self.serials: list[int] = []
        self.not_after: dict[int, datetime] = {}
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._first = threading.Event()
        self._client = WorkloadApiClient(socket_path=spire.workload_api)
        self._handle = self._client.stream_x509_contexts(self._on_context, self._on_error)

    def _on_context(self, context: object) -> None:
        for svid in context.x509_svids:  # type: ignore[attr-defined]
            if str(svid.spiffe_id) == self.spiffe_id:
                self._write(svid)

    def _write(self, svid: X509Svid) -> None:
        leaf = svid.leaf
        with self._lock:
            if leaf.serial_number in self.serials:
                return
            write_svid(svid, self.directory, self.stem)
            self.serials.append(leaf.serial_number)
            self.not_after[leaf.serial_number] = leaf.not_valid_after_utc
        self._first.set()

    def _on_error(self, err: Exception) -> None:
        self.errors.append(str(err))

    def wait_first(self, timeout: float = 30.0) -> None:
        assert self._first.wait(timeout), f"no SVID for {self.spiffe_id} within {timeout}s"

    def close(self) -> None:
        self._handle.cancel()
        self._client.close()


def build(workdir: Path) -> RealId:
    """SPIRE and Keycloak in parallel; then meshgate and the broker (Keycloak may still be starting)."""
    pki = dev_pki.create(workdir / "pki")
    stack = RealId(
        workdir, pki, Spire(workdir / "spire"), Keycloak(workdir / "keycloak"), DevCA(f"{FEDERATED_TD} root")
    )
    keycloak_thread = threading.Thread(target=_start_keycloak, args=(stack,), daemon=True)
    keycloak_thread.start()
    try:
        stack.timings["spire"] = stack.spire.start()
        _register(stack)
        stack.meshgate = _start_meshgate(stack)
        stack.broker = _start_broker(stack)
    except BaseException:
        keycloak_thread.join()
        stack.stop()
        raise
    keycloak_thread.join()
    return stack


def _start_keycloak(stack: RealId) -> None:
    began = time.monotonic()
    try:
        stack.keycloak.workdir.mkdir(parents=True, exist_ok=True)
        stack.timings["keycloak"] = stack.keycloak.start()
    except KeycloakUnavailable as err:
        stack.keycloak_error = str(err)
    except Exception as err:
        stack.keycloak_error = f"keycloak did not start after {time.monotonic() - began:.0f}s: {err}"


def _register(stack: RealId) -> None:
    """meshgate's own entry (it federates with other.test) and the broker's; workloads come per test."""
    partner_bundle = stack.workdir / "other.test.pem"
    partner_bundle.write_bytes(pem_bundle([stack.partner_ca.cert]))
    stack.spire.bundle_set(f"spiffe://{FEDERATED_TD}", partner_bundle)
    stack.spire.entry_create(MESHGATE_ID, [uid_selector()], federates_with=[f"spiffe://{FEDERATED_TD}"])
    stack.spire.entry_create(dev_pki.BROKER_ID, [uid_selector()], x509_ttl=3600)
    # The broker's client identity, kept current through rotations (a CA rotation test revokes its CA).
    stack.broker_svid = SvidFiles(stack.spire, dev_pki.BROKER_ID, stack.pki.directory, "broker-client")
    stack.broker_svid.wait_first(60)


def _start_meshgate(stack: RealId) -> MeshgateProcess:
    work = stack.workdir / "meshgate"
    policies = work / "policies"
    policies.mkdir(parents=True)
    template = POLICY_TEMPLATE.read_text()
    (policies / "realid.yaml").write_text(template.replace("KEYCLOAK_ISSUER", stack.keycloak.issuer))
    config = write_config(
        work / "meshgate.yaml",
        port=0,
        policy_dir=policies,
        trust_bundles=[],
        superusers=[dev_pki.BROKER_ID],
        extra={
            "identity": {
                "workload_api": {"enabled": True, "socket": stack.spire.workload_api},
                "max_skew_seconds": REALID_MAX_SKEW_SECONDS,  # one host, one clock
            },
            "oidc": {**OIDC_SETTINGS, "issuers": [keycloak_issuer_config(stack.keycloak), SPIRE_JWT_ISSUER]},
        },
    )
    service = MeshgateProcess(config, work / "meshgate.log")
    began = time.monotonic()
    service.start()
    stack.timings["meshgate"] = time.monotonic() - began
    return service


def _start_broker(stack: RealId) -> StandaloneBroker:
    assert stack.meshgate is not None
    settings = BrokerSettings(
        pki=stack.pki,
        meshgate_target=stack.meshgate.target,
        workdir=stack.workdir / "broker",
        line="4.0",
        refresh_check_seconds=1,
        extra={"tlsAllowInsecureConnection": "true"},
    )
    broker = StandaloneBroker(settings)
    stack.timings["broker"] = broker.start()
    broker.create_namespaces("acme/payments", "acme/shop")
    return broker
