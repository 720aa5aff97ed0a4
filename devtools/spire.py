"""A real SPIRE server and agent on loopback, for the end-to-end tests (built by devtools/spire_build.sh).

Node attestation by `join_token`, workload attestation by the `unix` attestor, trust domain `meshgate.test`,
in-memory keys and a SQLite datastore under one work directory. `start()` returns once both answer their
health checks; `entry_create`, `entry_delete`, `bundle_set` and the `localauthority` calls drive the server
as an operator would, through its CLI.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from devtools.ports import free_port

ROOT = Path(__file__).resolve().parent.parent
VERSION = "1.13.3"
TRUST_DOMAIN = "meshgate.test"
NODE_ID = f"spiffe://{TRUST_DOMAIN}/node/test"
JWT_ISSUER = "https://spire.meshgate.test"  # the `iss` of the JWT-SVIDs (SPIRE leaves it out unless set)


def binary(name: str, version: str = VERSION) -> Path:
    return ROOT / ".cache" / "spire" / version / "bin" / name


def ensure_built(version: str = VERSION) -> None:
    """Build the two binaries once per version into `.cache/spire/` (needs the Go toolchain)."""
    if binary("spire-server", version).exists() and binary("spire-agent", version).exists():
        return
    subprocess.run([str(ROOT / "devtools" / "spire_build.sh"), version], check=True)


SERVER_CONF = """\
server {{
  bind_address = "127.0.0.1"
  bind_port = "{port}"
  socket_path = "{socket}"
  trust_domain = "{td}"
  data_dir = "{data}"
  log_level = "INFO"
  ca_ttl = "24h"
  default_x509_svid_ttl = "1h"
  default_jwt_svid_ttl = "5m"
  jwt_issuer = "{jwt_issuer}"
  ca_key_type = "ec-p256"
}}
plugins {{
  DataStore "sql" {{
    plugin_data {{
      database_type = "sqlite3"
      connection_string = "{data}/datastore.sqlite3"
    }}
  }}
  NodeAttestor "join_token" {{
    plugin_data {{}}
  }}
  KeyManager "memory" {{
    plugin_data {{}}
  }}
}}
"""

AGENT_CONF = """\
agent {{
  data_dir = "{data}"
  log_level = "INFO"
  server_address = "127.0.0.1"
  server_port = "{port}"
  socket_path = "{socket}"
  trust_domain = "{td}"
  insecure_bootstrap = true
}}
plugins {{
  NodeAttestor "join_token" {{
    plugin_data {{}}
  }}
  KeyManager "memory" {{
    plugin_data {{}}
  }}
  WorkloadAttestor "unix" {{
    plugin_data {{}}
  }}
}}
"""


@dataclass
class Spire:
    """One SPIRE server and one agent; `agent_socket` is the Workload API (`unix://` + it)."""

    workdir: Path
    port: int = field(default_factory=free_port)
    _server: subprocess.Popen[bytes] | None = None
    _agent: subprocess.Popen[bytes] | None = None

    @property
    def server_socket(self) -> Path:
        return self.workdir / "server" / "api.sock"

    @property
    def agent_socket(self) -> Path:
        return self.workdir / "agent" / "agent.sock"

    @property
    def workload_api(self) -> str:
        return f"unix://{self.agent_socket}"

    def start(self, timeout: float = 60.0) -> float:
        """Start the server, attest the agent with a join token, wait until both are healthy."""
        ensure_built()
        began = time.monotonic()
        deadline = began + timeout
        self._server = self._spawn("server", SERVER_CONF, [])
        self._wait_healthy("spire-server", ["-socketPath", str(self.server_socket)], deadline)
        token = self.server("token", "generate", "-spiffeID", NODE_ID, "-ttl", "600").split()[-1]
        self._agent = self._spawn("agent", AGENT_CONF, ["-joinToken", token])
        self._wait_healthy("spire-agent", ["-socketPath", str(self.agent_socket)], deadline)
        return time.monotonic() - began

    def stop(self) -> None:
        for process in (self._agent, self._server):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(10)
        self._agent = self._server = None

    def server(self, *args: str) -> str:
        """Run `spire-server <args> -socketPath <server socket>`; its stdout."""
        return _run(binary("spire-server"), [*args, "-socketPath", str(self.server_socket)])

    def entry_create(
        self,
        spiffe_id: str,
        selectors: list[str],
        *,
        x509_ttl: int = 3600,
        jwt_ttl: int = 300,
        federates_with: list[str] | None = None,
    ) -> str:
        """Register a workload under the test node; returns the entry id."""
        args = ["entry", "create", "-parentID", NODE_ID, "-spiffeID", spiffe_id, "-output", "json"]
        args += [a for s in selectors for a in ("-selector", s)]
        args += ["-x509SVIDTTL", str(x509_ttl), "-jwtSVIDTTL", str(jwt_ttl)]
        args += [a for td in federates_with or [] for a in ("-federatesWith", td)]
        created = json.loads(self.server(*args))
        return str(created["results"][0]["entry"]["id"])

    def entry_delete(self, entry_id: str) -> None:
        self.server("entry", "delete", "-entryID", entry_id)

    def bundle_set(self, trust_domain_id: str, pem_file: Path) -> None:
        """Federation: trust `trust_domain_id` (`spiffe://other.test`) with the CAs in `pem_file`."""
        self.server("bundle", "set", "-id", trust_domain_id, "-path", str(pem_file), "-format", "pem")

    def bundle_pem(self) -> str:
        return self.server("bundle", "show", "-format", "pem")

    def x509_authorities(self) -> dict[str, object]:
        """`localauthority x509 show`: the active, prepared and old X.509 authorities."""
        shown: dict[str, object] = json.loads(
            self.server("localauthority", "x509", "show", "-output", "json")
        )
        return shown

    def x509_authority(self, verb: str, authority_id: str = "") -> dict[str, object]:
        """`localauthority x509 <prepare|activate|taint|revoke> [-authorityID id]`."""
        args = ["localauthority", "x509", verb, "-output", "json"]
        if authority_id:
            args += ["-authorityID", authority_id]
        done: dict[str, object] = json.loads(self.server(*args))
        return done

    def _spawn(self, role: str, template: str, extra: list[str]) -> subprocess.Popen[bytes]:
        directory = self.workdir / role
        (directory / "data").mkdir(parents=True, exist_ok=True)
        socket = self.server_socket if role == "server" else self.agent_socket
        conf = directory / f"{role}.conf"
        conf.write_text(
            template.format(
                port=self.port, socket=socket, td=TRUST_DOMAIN, data=directory / "data", jwt_issuer=JWT_ISSUER
            )
        )
        with (directory / f"{role}.log").open("ab") as log:
            return subprocess.Popen(
                [str(binary(f"spire-{role}")), "run", "-config", str(conf), *extra],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _wait_healthy(self, name: str, args: list[str], deadline: float) -> None:
        while time.monotonic() < deadline:
            done = subprocess.run(
                [str(binary(name)), "healthcheck", *args], capture_output=True, check=False, timeout=30
            )
            if done.returncode == 0:
                return
            time.sleep(0.2)
        raise TimeoutError(f"{name} not healthy in time; see {self.workdir}")


def _run(program: Path, args: list[str]) -> str:
    done = subprocess.run([str(program), *args], capture_output=True, text=True, check=False, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(
            f"{program.name} {' '.join(args[:3])}: {done.stderr.strip() or done.stdout.strip()}"
        )
    return done.stdout
