"""A real Apache Pulsar standalone broker (Maven Central jars) with the meshgate shim loaded.

`org.apache.pulsar.PulsarStandaloneStarter` with RocksDB metadata and in-process bookies; no Docker.
The classpath comes from `broker-runtime/pom.xml` (see `make broker-classpath`).
"""

from __future__ import annotations

import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from devtools.jvm import https_request, java_command, start_java, stop_group
from devtools.pki import BROKER_ID, DevPki
from devtools.ports import free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
PULSAR_VERSIONS = {"4.0": "4.0.7", "4.2": "4.2.4"}
SHIM_JAR = ROOT / "plugin-shim" / "target" / "meshgate-pulsar-shim-0.1.0.jar"
# The session revoker (a broker interceptor) is loaded from a one-file .nar in this directory.
INTERCEPTORS_DIR = ROOT / "plugin-shim" / "target" / "interceptors"
REVOKER = "meshgate-session-revoker"


def classpath_file(line: str) -> Path:
    return ROOT / ".cache" / "broker" / PULSAR_VERSIONS[line] / "classpath.txt"


@dataclass
class Ports:
    """The client and HTTP ports of one Pulsar process (broker, proxy) on 127.0.0.1, and their URLs."""

    binary: int = field(default_factory=free_port)
    binary_tls: int = field(default_factory=free_port)
    web: int = field(default_factory=free_port)
    web_tls: int = field(default_factory=free_port)

    @property
    def service_url(self) -> str:
        return f"pulsar://127.0.0.1:{self.binary}"

    @property
    def service_url_tls(self) -> str:
        return f"pulsar+ssl://127.0.0.1:{self.binary_tls}"

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web}"

    @property
    def web_url_tls(self) -> str:
        return f"https://127.0.0.1:{self.web_tls}"


@dataclass
class BrokerPorts(Ports):
    bookie: int = field(default_factory=free_port)


@dataclass
class BrokerSettings:
    pki: DevPki
    meshgate_target: str
    workdir: Path
    line: str = "4.0"
    ports: BrokerPorts = field(default_factory=BrokerPorts)
    refresh_check_seconds: int = 60
    extra: dict[str, str] = field(default_factory=dict)
    # Re-authorize connected producers/consumers on every policy revision (MeshgateSessionRevoker).
    revoke_sessions: bool = True
    shim_log_level: str = "debug"  # the tests read the shim's debug lines; `make run` logs at info


def broker_conf(s: BrokerSettings) -> str:
    return render_conf(broker_settings(s))


def render_conf(settings: dict[str, object]) -> str:
    """A Pulsar `.conf` file (Java properties) of `settings`."""
    return "".join(f"{k}={v}\n" for k, v in settings.items())


def broker_settings(s: BrokerSettings) -> dict[str, object]:
    """The broker.conf keys of a dev broker with the shim loaded (standalone, or one broker of a cluster)."""
    pki = s.pki
    settings: dict[str, object] = {
        "clusterName": "standalone",
        "advertisedAddress": "127.0.0.1",
        "bindAddress": "127.0.0.1",
        "brokerServicePort": s.ports.binary,
        "brokerServicePortTls": s.ports.binary_tls,
        "webServicePort": s.ports.web,
        "webServicePortTls": s.ports.web_tls,
        "tlsCertificateFilePath": pki.cert("broker-server"),
        "tlsKeyFilePath": pki.key("broker-server"),
        "tlsTrustCertsFilePath": pki.ca_file,
        "tlsRequireTrustedClientCertOnConnect": "true",
        "tlsAllowInsecureConnection": "false",
        "authenticationEnabled": "true",
        "authenticationProviders": "dev.meshgate.pulsar.MeshgateTlsAuthenticationProvider,"
        "dev.meshgate.pulsar.MeshgateTokenAuthenticationProvider,"
        "dev.meshgate.pulsar.MeshgateMeshHeaderAuthenticationProvider",
        "authenticationRefreshCheckSeconds": s.refresh_check_seconds,
        "authorizationEnabled": "true",
        "authorizationProvider": "dev.meshgate.pulsar.MeshgateAuthorizationProvider",
        "superUserRoles": BROKER_ID,
        "brokerClientTlsEnabled": "true",
        "brokerClientAuthenticationPlugin": "org.apache.pulsar.client.impl.auth.AuthenticationTls",
        "brokerClientAuthenticationParameters": f"tlsCertFile:{pki.cert('broker-client')},"
        f"tlsKeyFile:{pki.key('broker-client')}",
        "brokerClientTrustCertsFilePath": pki.ca_file,
        "managedLedgerDefaultEnsembleSize": 1,
        "managedLedgerDefaultWriteQuorum": 1,
        "managedLedgerDefaultAckQuorum": 1,
        "allowAutoTopicCreation": "true",
        "meshgateTargets": s.meshgate_target,
    }
    if s.revoke_sessions:
        settings["brokerInterceptors"] = REVOKER
        settings["brokerInterceptorsDirectory"] = str(INTERCEPTORS_DIR)
        settings["narExtractionDirectory"] = str(s.workdir / "nar")
    settings.update(s.extra)
    return settings


class StandaloneBroker:
    """Start with `start()`, stop with `stop()`; `log` is the broker's log file."""

    def __init__(self, settings: BrokerSettings) -> None:
        self.settings = settings
        self.workdir = settings.workdir
        self.log = self.workdir / "broker.log"
        self._process: subprocess.Popen[bytes] | None = None
        self.keep_data = False  # True after the first start: restart() brings back the same topics

    @property
    def pid(self) -> int:
        """The running broker JVM's process id (to read its CPU time or profile it)."""
        if self._process is None:
            raise RuntimeError("the broker is not running")
        return self._process.pid

    def restart(self, timeout: float = 180.0) -> float:
        """Stop the broker process and start it again on its data, as an operator's rolling restart does."""
        self.stop()
        self.keep_data = True
        return self.start(timeout)

    @property
    def service_url_tls(self) -> str:
        return self.settings.ports.service_url_tls

    @property
    def service_url(self) -> str:
        return self.settings.ports.service_url

    @property
    def web_url(self) -> str:
        return self.settings.ports.web_url

    @property
    def web_url_tls(self) -> str:
        return self.settings.ports.web_url_tls

    def command(self) -> list[str]:
        cp_file = classpath_file(self.settings.line)
        if not cp_file.exists():
            raise FileNotFoundError(f"{cp_file} missing: run `make broker-classpath` first")
        if not SHIM_JAR.exists():
            raise FileNotFoundError(f"{SHIM_JAR} missing: run `make shim` first")
        classpath = f"{SHIM_JAR}:{cp_file.read_text().strip()}"
        data = self.workdir / "data"
        args = [
            "--config",
            str(self.workdir / "standalone.conf"),
            "--no-functions-worker",
            "--no-stream-storage",
            *([] if self.keep_data else ["--wipe-data"]),
            "--num-bookies",
            "1",
            "--bookkeeper-port",
            str(self.settings.ports.bookie),
            "--metadata-dir",
            str(data / "metadata"),
            "--bookkeeper-dir",
            str(data / "bookkeeper"),
        ]
        main = "org.apache.pulsar.PulsarStandaloneStarter"
        return java_command(classpath, main, args, self.log, shim_log_level=self.settings.shim_log_level)

    def start(self, timeout: float = 180.0) -> float:
        """Start and wait until the broker serves and bootstrap is done; returns the seconds it took."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "standalone.conf").write_text(broker_conf(self.settings))
        self.log.write_text("")  # log4j appends (devtools/log4j2.xml); one file per start
        began = time.monotonic()
        self._process = start_java(self.command(), self.workdir, "broker")
        self._wait_ready(began + timeout)
        return time.monotonic() - began

    def _wait_ready(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"broker exited with {self._process.returncode}; see {self.log}")
            if self._bootstrap_done():
                return
            time.sleep(0.5)
        self.stop()
        raise TimeoutError(f"broker not ready in time; see {self.log}")

    def metrics(self) -> str:
        """The broker's Prometheus /metrics page (plain HTTP port; no authentication by default)."""
        with urllib.request.urlopen(self.web_url + "/metrics/", timeout=10) as response:
            return str(response.read().decode())

    def admin_get(self, path: str, identity: str = "broker-client") -> tuple[int, str]:
        """GET on the broker's HTTPS admin API as `identity` (a certificate name in the dev PKI)."""
        return self.admin_request("GET", path, None, identity)

    def admin_request(
        self, method: str, path: str, body: object, identity: str = "broker-client"
    ) -> tuple[int, str]:
        """A request to the HTTPS admin API authenticated by `identity`'s client certificate."""
        return https_request(self.web_url_tls, self.settings.pki, identity, method, path, body)

    def create_namespaces(self, *namespaces: str, cluster: str = "standalone") -> None:
        """Create each `tenant/namespace` (and its tenant) as the broker's own super-user identity, the way
        an operator bootstraps a cluster; ones that exist already are left as they are."""
        for tenant in dict.fromkeys(namespace.split("/")[0] for namespace in namespaces):
            self._put(f"/admin/v2/tenants/{tenant}", {"adminRoles": [], "allowedClusters": [cluster]})
        for namespace in namespaces:
            self._put(f"/admin/v2/namespaces/{namespace}", None)

    def create_topic(self, topic: str) -> None:
        """Create a non-partitioned `persistent://tenant/namespace/name` topic as the broker's super-user
        (left as it is when it exists)."""
        self._put("/admin/v2/" + topic.replace("://", "/", 1), None)

    def _put(self, path: str, body: object) -> None:
        status, text = self.admin_request("PUT", path, body)
        if status not in (204, 409):
            raise RuntimeError(f"PUT {path} on the broker answered {status}: {text}")

    def _bootstrap_done(self) -> bool:
        # Standalone creates the cluster, the `public` tenant and `public/default` after the service is
        # ready; clients fail with "Namespace not found" until then.
        if not wait_for_port(self.settings.ports.web_tls, 0.5):
            return False
        try:
            status, body = self.admin_get("/admin/v2/namespaces/public")
        except OSError:
            return False
        return status == 200 and "public/default" in body

    def stop(self) -> None:
        process, self._process = self._process, None
        stop_group(process)
