"""A local Pulsar cluster shaped like the Apache Helm chart's: ZooKeeper, one bookie, two brokers, one proxy.

Every process is a JVM from Maven Central jars (no Docker): ZooKeeper and the bookie run from the broker's own
classpath (`make broker-classpath`), the proxy and Pulsar's admin CLI from `broker-runtime/proxy/pom.xml`
(`make proxy-classpath`). Each broker has its own meshgate sidecar on its own Unix socket and the proxy has
one too; the three share one policy folder, as git-sync gives every pod the same commit. Clients reach the
cluster through the proxy, as the chart's clients do.

`start()` brings the whole cluster up (ZooKeeper, metadata, then bookie, brokers and proxy side by side) and
`stop()` stops every process, also after a failed start. Logs stay in `workdir`.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from devtools.broker import (
    SHIM_JAR,
    BrokerPorts,
    BrokerSettings,
    Ports,
    broker_settings,
    classpath_file,
    render_conf,
)
from devtools.jvm import https_request, java_command, start_java, stop_group
from devtools.pki import BROKER_ID, TRUST_DOMAIN, DevPki
from devtools.ports import free_port, wait_for_port
from devtools.service import MeshgateProcess, write_config

ROOT = Path(__file__).resolve().parent.parent
PROXY_VERSION = "4.0.8"
CLUSTER = "pulsar"  # the chart's cluster name for release `pulsar` (tests compare with the rendered chart)
BROKER_MAIN = "org.apache.pulsar.PulsarBrokerStarter"


def proxy_classpath_file() -> Path:
    return ROOT / ".cache" / "proxy" / PROXY_VERSION / "classpath.txt"


def _classpath(file: Path, hint: str) -> str:
    if not file.exists():
        raise FileNotFoundError(f"{file} missing: run `make {hint}` first")
    if not SHIM_JAR.exists():
        raise FileNotFoundError(f"{SHIM_JAR} missing: run `make shim` first")
    return f"{SHIM_JAR}:{file.read_text().strip()}"


@dataclass
class ClusterSettings:
    """What a test chooses; the keys from the rendered Helm chart arrive in `broker_keys` / `proxy_keys`."""

    pki: DevPki
    workdir: Path
    policy_dir: Path
    line: str = "4.0"
    # Sections merged into every sidecar's meshgate.yaml (identity, oidc), as in tests/e2e/conftest.py.
    meshgate_extra: dict[str, object] = field(default_factory=dict)
    broker_keys: Mapping[str, object] = field(default_factory=dict)
    proxy_keys: Mapping[str, object] = field(default_factory=dict)
    brokers: int = 2


class Jvm:
    """One JVM of the cluster: a name, a work folder and a log; `stop()` is safe to call at any time."""

    def __init__(self, name: str, workdir: Path, command: Callable[[Path], list[str]]) -> None:
        self.name = name
        self.workdir = workdir
        self.log = workdir / f"{name}.log"
        self._command = command
        self._offset = 0
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the JVM; its log keeps growing across restarts (log4j appends)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._offset = self.log.stat().st_size if self.log.exists() else 0
        self.process = start_java(self._command(self.log), self.workdir, self.name)

    def log_since_start(self) -> str:
        return self.log.read_text(errors="replace")[self._offset :] if self.log.exists() else ""

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}; see {self.log}")

    def stop(self) -> None:
        process, self.process = self.process, None
        stop_group(process)


class ClusterBroker:
    """A broker of the cluster with its own meshgate sidecar on a Unix socket."""

    def __init__(self, name: str, settings: ClusterSettings, zk_port: int) -> None:
        self.name = name
        self.cluster = settings
        self.workdir = settings.workdir / name
        self.ports = BrokerPorts()
        self.sidecar = _sidecar(settings, self.workdir / "meshgate")
        self.settings = BrokerSettings(
            pki=settings.pki,
            meshgate_target=self.sidecar.target,
            workdir=self.workdir,
            line=settings.line,
            ports=self.ports,
        )
        self.zk_port = zk_port
        self.overrides: dict[str, object] = {}  # set by restart(): keys a test runs this broker with
        classpath = _classpath(classpath_file(settings.line), "broker-classpath")
        conf = self.workdir / "broker.conf"
        self.jvm = Jvm(
            "broker",
            self.workdir,
            lambda log: java_command(classpath, BROKER_MAIN, ["-c", str(conf)], log),
        )

    @property
    def service_url(self) -> str:
        return self.ports.service_url

    @property
    def service_url_tls(self) -> str:
        return self.ports.service_url_tls

    @property
    def web_url_tls(self) -> str:
        return self.ports.web_url_tls

    @property
    def broker_id(self) -> str:
        """How Pulsar names this broker in lookups and ownership (`host:webport`)."""
        return f"127.0.0.1:{self.ports.web}"

    def conf(self) -> dict[str, object]:
        zk = f"127.0.0.1:{self.zk_port}"
        keys = broker_settings(self.settings)
        keys.update(self.cluster.broker_keys)
        keys.update(
            {
                "clusterName": CLUSTER,
                "metadataStoreUrl": f"zk:{zk}",
                "configurationMetadataStoreUrl": f"zk:{zk}",
                "bookkeeperMetadataServiceUri": f"zk+hierarchical://{zk}/ledgers",
                # Local values of what the chart sets per pod or per environment.
                "meshgateTargets": self.sidecar.target,
                "narExtractionDirectory": str(self.workdir / "nar"),
                # The chart's brokers talk to each other in plaintext (Linkerd's mTLS underneath).
                "brokerClientTlsEnabled": "false",
                # Test stability, not production advice: no bundle moves the test did not ask for.
                "loadBalancerSheddingEnabled": "false",
                "loadBalancerAutoBundleSplitEnabled": "false",
                # A machine shared with other work shows ~100 % CPU: not a reason to place nothing there.
                "loadBalancerBrokerOverloadedThresholdPercentage": "100",
            }
        )
        keys.update(self.overrides)
        return keys

    def restart(self, overrides: dict[str, object], timeout: float = 180.0) -> float:
        """Restart the broker JVM (not its sidecar) with `overrides` on top of the cluster's keys; returns
        the seconds until it serves again."""
        began = time.monotonic()
        self.jvm.stop()
        self.overrides = dict(overrides)
        self.launch(began + timeout)
        return time.monotonic() - began

    def launch(self, deadline: float) -> None:
        """Write broker.conf, start the JVM and wait until it serves (by `deadline`, monotonic seconds)."""
        (self.workdir / "broker.conf").write_text(render_conf(self.conf()))
        self.jvm.start()
        wait_until(self.ready, deadline, f"{self.name} not ready in time; see {self.jvm.log}")

    def ready(self) -> bool:
        self.jvm.check_alive()
        if "Failed to start Pulsar service" in self.jvm.log_since_start():
            raise RuntimeError(f"{self.name} failed to start; see {self.jvm.log}")
        if not wait_for_port(self.ports.web_tls, 0.2):
            return False
        try:
            status, _ = self.admin("GET", "/admin/v2/brokers/ready")
        except OSError:
            return False
        return status == 200

    def admin(
        self,
        method: str,
        path: str,
        body: object = None,
        identity: str = "broker-client",
        headers: dict[str, str] | None = None,
    ) -> tuple[int, str]:
        """An admin REST call straight to this broker's HTTPS port with `identity`'s certificate."""
        return https_request(self.web_url_tls, self.cluster.pki, identity, method, path, body, headers)

    def stop(self) -> None:
        self.jvm.stop()
        self.sidecar.stop()


def _sidecar(settings: ClusterSettings, workdir: Path) -> MeshgateProcess:
    config = write_config(
        workdir / "meshgate.yaml",
        port=0,
        policy_dir=settings.policy_dir,
        trust_bundles=[f"{TRUST_DOMAIN}={settings.pki.ca_file}"],
        superusers=[BROKER_ID],
        extra=settings.meshgate_extra,
    )
    return MeshgateProcess(config, workdir / "meshgate.log", socket=workdir / "meshgate.sock")


class PulsarCluster:
    """`start()` returns the seconds the cluster took to serve through its proxy; `stop()` stops it all."""

    def __init__(self, settings: ClusterSettings) -> None:
        self.settings = settings
        self.workdir = settings.workdir
        self.zk_port = free_port()
        self.bookie_port = free_port()
        self.proxy_ports = Ports()
        cp = _classpath(classpath_file(settings.line), "broker-classpath")
        self.zookeeper = Jvm("zookeeper", self.workdir / "zookeeper", lambda log: self._zk_command(cp, log))
        self.bookie = Jvm("bookie", self.workdir / "bookie", lambda log: self._bookie_command(cp, log))
        self.brokers = [ClusterBroker(f"broker-{i}", settings, self.zk_port) for i in range(settings.brokers)]
        self.proxy_sidecar = _sidecar(settings, self.workdir / "proxy" / "meshgate")
        proxy_cp = _classpath(proxy_classpath_file(), "proxy-classpath")
        self.proxy = Jvm("proxy", self.workdir / "proxy", lambda log: self._proxy_command(proxy_cp, log))
        self.admin_cli_classpath = proxy_cp

    # --- addresses ---------------------------------------------------------------------------------

    @property
    def service_url_tls(self) -> str:
        """The proxy's client port (TLS only, as the chart runs it with proxy TLS on)."""
        return self.proxy_ports.service_url_tls

    @property
    def web_url_tls(self) -> str:
        return self.proxy_ports.web_url_tls

    @property
    def sidecars(self) -> list[MeshgateProcess]:
        return [*(b.sidecar for b in self.brokers), self.proxy_sidecar]

    def admin(
        self,
        method: str,
        path: str,
        body: object = None,
        identity: str = "broker-client",
        headers: dict[str, str] | None = None,
    ) -> tuple[int, str]:
        """An admin REST call through the proxy's HTTPS port, authenticated by `identity`'s certificate."""
        return https_request(
            self.web_url_tls, self.settings.pki, identity, method, path, body, headers, name_method=False
        )

    def admin_cli(self, *args: str, identity: str = "broker-client", timeout: float = 90) -> tuple[int, str]:
        """Pulsar's own admin CLI (`pulsar-admin`, PulsarAdminTool) through the proxy's HTTPS port with
        `identity`'s certificate: (exit code, stdout and stderr)."""
        pki = self.settings.pki
        work = self.workdir / "admin-cli"
        work.mkdir(parents=True, exist_ok=True)
        conf = work / f"client-{identity}.conf"
        conf.write_text(
            render_conf(
                {
                    "webServiceUrl": self.web_url_tls,
                    "brokerServiceUrl": self.service_url_tls,
                    "authPlugin": "org.apache.pulsar.client.impl.auth.AuthenticationTls",
                    "authParams": f"tlsCertFile:{pki.cert(identity)},tlsKeyFile:{pki.key(identity)}",
                    "tlsTrustCertsFilePath": pki.ca_file,
                    "tlsAllowInsecureConnection": "false",
                }
            )
        )
        main = "org.apache.pulsar.admin.cli.PulsarAdminTool"
        command = java_command(self.admin_cli_classpath, main, [str(conf), *args], work / "admin-cli.log")
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        return result.returncode, result.stdout + result.stderr

    # --- processes ---------------------------------------------------------------------------------

    def _zk_command(self, cp: str, log: Path) -> list[str]:
        data = self.workdir / "zookeeper" / "data"
        data.mkdir(parents=True, exist_ok=True)
        main = "org.apache.zookeeper.server.ZooKeeperServerMain"
        command = java_command(cp, main, [str(self.zk_port), str(data)], log, ("64m", "256m"))
        return [command[0], "-Dzookeeper.admin.enableServer=false", *command[1:]]

    def _bookie_command(self, cp: str, log: Path) -> list[str]:
        conf = self.workdir / "bookie" / "bookkeeper.conf"
        data = self.workdir / "bookie" / "data"
        conf.write_text(
            render_conf(
                {
                    "bookiePort": self.bookie_port,
                    "advertisedAddress": "127.0.0.1",
                    "allowLoopback": "true",
                    "metadataServiceUri": f"zk+hierarchical://127.0.0.1:{self.zk_port}/ledgers",
                    "journalDirectories": data / "journal",
                    "ledgerDirectories": data / "ledgers",
                    "httpServerEnabled": "false",
                    "journalSyncData": "false",
                    "diskUsageThreshold": "0.99",
                    "diskUsageWarnThreshold": "0.98",
                    "ledgerStorageClass": "org.apache.bookkeeper.bookie.storage.ldb.DbLedgerStorage",
                    "dbStorage_writeCacheMaxSizeMb": 16,
                    "dbStorage_readAheadCacheMaxSizeMb": 16,
                    "dbStorage_rocksDB_blockCacheSize": 8388608,
                }
            )
        )
        main = "org.apache.bookkeeper.server.Main"
        return java_command(cp, main, ["--conf", str(conf)], log, ("128m", "512m"))

    def proxy_conf(self) -> dict[str, object]:
        """proxy.conf: local addresses and files, then the deployed keys (`proxy_keys`), as the chart's proxy
        has them: TLS for clients, TLS to the brokers' Service when `tlsEnabledWithBroker`."""
        pki = self.settings.pki
        first = self.brokers[0]
        keys: dict[str, object] = {
            "clusterName": CLUSTER,
            "bindAddress": "127.0.0.1",
            "advertisedAddress": "127.0.0.1",
            # The image's proxy.conf keeps servicePort=6650 when the chart turns proxy TLS on (its Service
            # then publishes 6651 only): bound here too, on a free port.
            "servicePort": self.proxy_ports.binary,
            "servicePortTls": self.proxy_ports.binary_tls,
            "webServicePort": self.proxy_ports.web,
            "webServicePortTls": self.proxy_ports.web_tls,
            "tlsEnabledInProxy": "true",
            "tlsCertificateFilePath": pki.cert("broker-server"),
            "tlsKeyFilePath": pki.key("broker-server"),
            "tlsTrustCertsFilePath": pki.ca_file,
            # The chart's Service in front of every broker; here the first broker, and lookups move on.
            "brokerServiceURL": first.service_url,
            "brokerWebServiceURL": f"http://127.0.0.1:{first.ports.web}",
            "brokerServiceURLTLS": first.service_url_tls,
            "brokerWebServiceURLTLS": first.web_url_tls,
            "brokerClientTrustCertsFilePath": pki.ca_file,
            # Test ports: the proxy only connects to 6650/6651 unless told otherwise.
            "brokerProxyAllowedTargetPorts": "*",
            "brokerProxyAllowedHostNames": "127.0.0.1",
            "narExtractionDirectory": self.workdir / "proxy" / "nar",
        }
        keys.update(self.settings.proxy_keys)
        keys["meshgateTargets"] = self.proxy_sidecar.target
        return keys

    def _proxy_command(self, cp: str, log: Path) -> list[str]:
        conf = self.workdir / "proxy" / "proxy.conf"
        conf.write_text(render_conf(self.proxy_conf()))
        main = "org.apache.pulsar.proxy.server.ProxyServiceStarter"
        return java_command(cp, main, ["--config", str(conf)], log, ("128m", "512m"))

    def _metadata_setup(self) -> None:
        first = self.brokers[0]
        zk = f"zk:127.0.0.1:{self.zk_port}"
        args = [
            "--cluster", CLUSTER,
            "--metadata-store", zk,
            "--configuration-metadata-store", zk,
            "--web-service-url", f"http://127.0.0.1:{first.ports.web}",
            "--web-service-url-tls", first.web_url_tls,
            "--broker-service-url", first.service_url,
            "--broker-service-url-tls", first.service_url_tls,
        ]  # fmt: skip
        work = self.workdir / "metadata-setup"
        work.mkdir(parents=True, exist_ok=True)
        log = work / "metadata-setup.log"
        cp = _classpath(classpath_file(self.settings.line), "broker-classpath")
        command = java_command(cp, "org.apache.pulsar.PulsarClusterMetadataSetup", args, log, ("64m", "256m"))
        process = start_java(command, work, "metadata-setup")
        if process.wait(timeout=120) != 0:
            raise RuntimeError(f"cluster metadata setup failed; see {log} and its .stdout")

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self, timeout: float = 240.0) -> float:
        began = time.monotonic()
        deadline = began + timeout
        try:
            self.zookeeper.start()
            self._wait("zookeeper", deadline, lambda: _alive_and(self.zookeeper, self.zk_port))
            self._metadata_setup()
            self.bookie.start()
            self.proxy_sidecar.start()
            with ThreadPoolExecutor(len(self.brokers)) as pool:
                list(pool.map(lambda b: self._start_broker(b, deadline), self.brokers))
            self._wait("bookie", deadline, lambda: _alive_and(self.bookie, self.bookie_port))
            self.proxy.start()  # after the brokers: its proxy.conf names their (final) ports
            self._wait("proxy", deadline, self._proxy_ready)
        except BaseException:
            self.stop()
            raise
        return time.monotonic() - began

    def _start_broker(self, broker: ClusterBroker, deadline: float, attempts: int = 3) -> None:
        """Start `broker` and wait until it serves; on a port another process took in the meantime (the
        machine is shared), start it again on fresh ports."""
        broker.sidecar.start()
        for attempt in range(attempts):
            if attempt:
                broker.jvm.stop()
                broker.ports = BrokerPorts()
                broker.settings.ports = broker.ports
            try:
                broker.launch(deadline)
                return
            except RuntimeError:
                if "Address already in use" not in broker.jvm.log_since_start():
                    raise
        raise RuntimeError(f"{broker.name}: no free ports in {attempts} attempts; see {broker.jvm.log}")

    def _proxy_ready(self) -> bool:
        self.proxy.check_alive()
        if not wait_for_port(self.proxy_ports.web_tls, 0.2):
            return False
        try:
            status, body = self.admin("GET", f"/admin/v2/brokers/{CLUSTER}")
        except OSError:
            return False
        return status == 200 and all(b.broker_id in body for b in self.brokers)

    def _wait(self, what: str, deadline: float, ready: Callable[[], bool]) -> None:
        wait_until(ready, deadline, f"{what} not ready in time; logs in {self.workdir}")

    def stop(self) -> None:
        """Stop every process (proxy, brokers, bookie, ZooKeeper, sidecars); each stop is independent."""
        for stop in [self.proxy.stop, *(b.stop for b in self.brokers), self.bookie.stop, self.zookeeper.stop,
                     self.proxy_sidecar.stop]:  # fmt: skip
            try:
                stop()
            except Exception as error:  # one failed stop must not leave the others running
                print(f"cluster: stopping failed: {error!r}")


def _alive_and(jvm: Jvm, port: int) -> bool:
    jvm.check_alive()
    return wait_for_port(port, 0.2)


def wait_until(ready: Callable[[], bool], deadline: float, late: str) -> None:
    """Ask `ready` every 0.3 s until it says yes; TimeoutError(`late`) once `deadline` (monotonic) passed.
    `ready` may raise to give up early (a process that exited)."""
    while not ready():
        if time.monotonic() > deadline:
            raise TimeoutError(late)
        time.sleep(0.3)
