"""A real Pulsar 4.0 standalone broker in one of two modes, for parts 4 and 5.

- `meshgate`: the shim (token authentication through meshgate's Kubernetes-token issuer, authorization
  through the policy, decision cache, session revoker), a real `meshgate serve` process, and a loopback
  JWKS server for the token issuer.
- `builtin`: Pulsar's own `AuthenticationProviderToken` (RS256, public key file) and
  `PulsarAuthorizationProvider` (namespace grant to a wildcard role, `authorizationAllowWildcardsMatching`).

Both modes use the same broker version, ports layout, JVM flags, client transport (`pulsar://`, token
auth) and RS256 tokens for the same principals: `spiffe://meshgate.test/ns/bench/sa/client-<i>`
(meshgate maps the Kubernetes subject `system:serviceaccount:bench:client-<i>` to it; the built-in
provider takes the `sub` as the role).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from devtools import pki as dev_pki
from devtools.broker import BrokerSettings, StandaloneBroker
from devtools.service import MeshgateProcess, write_config

TD = dev_pki.TRUST_DOMAIN
ISSUER = "https://kubernetes.bench.test"
ADMIN = "bench-admin"
TENANT, NAMESPACE = "acme", "acme/bench"
ROLE_PATTERN = f"spiffe://{TD}/ns/bench/sa/"


def principal(i: int) -> str:
    return f"{ROLE_PATTERN}client-{i}"


class Keys:
    def __init__(self) -> None:
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def public_der(self) -> bytes:
        """What Pulsar's `tokenPublicKey=file://` reads: SubjectPublicKeyInfo, DER."""
        return self.private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def jwks(self) -> bytes:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        return json.dumps({"keys": [{**jwk, "kid": "bench", "use": "sig", "alg": "RS256"}]}).encode()

    def token(self, mode: str, i: int | None, hours: int = 6) -> str:
        now = int(time.time())
        if mode == "meshgate":
            sub = f"system:serviceaccount:bench:client-{i}"
            claims = {"iss": ISSUER, "sub": sub, "aud": "pulsar", "iat": now, "exp": now + hours * 3600}
            return jwt.encode(claims, self.private, algorithm="RS256", headers={"kid": "bench"})
        sub = ADMIN if i is None else principal(i)
        return jwt.encode(
            {"sub": sub, "iat": now, "exp": now + hours * 3600}, self.private, algorithm="RS256"
        )


@contextmanager
def jwks_server(body: bytes) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    finally:
        server.shutdown()
        server.server_close()


POLICY = {
    "apiVersion": "meshgate.dev/v1",
    "kind": "AccessPolicy",
    "metadata": {"name": "bench"},
    "rules": [
        {
            "name": "bench-clients",
            "effect": "allow",
            "subjects": [{"spiffe": f"{ROLE_PATTERN}*"}],
            "actions": ["produce", "consume"],
            "resources": [f"{NAMESPACE}"],
        },
    ],
}


class BenchBroker(StandaloneBroker):
    """StandaloneBroker that bootstraps over token auth in built-in mode (the dev helper's readiness probe
    uses a client certificate); `keep_data` (from the base) restarts it on its data."""

    def __init__(self, settings: BrokerSettings, mode: str, admin_token: str) -> None:
        super().__init__(settings)
        self.mode = mode
        self.admin_token = admin_token

    def command(self) -> list[str]:
        log_config = Path(__file__).resolve().parent / "log4j2.xml"
        return [
            f"-Dlog4j.configurationFile={log_config}" if a.startswith("-Dlog4j.configurationFile=") else a
            for a in super().command()
        ]

    def _bootstrap_done(self) -> bool:
        if self.mode == "meshgate":
            return super()._bootstrap_done()
        status, body = self.http("GET", "/admin/v2/namespaces/public")
        return status == 200 and "public/default" in body

    def http(self, method: str, path: str, body: object = None) -> tuple[int, str]:
        """Admin REST over plain HTTP with the admin token (built-in mode)."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {self.admin_token}", "Content-Type": "application/json"}
        request = urllib.request.Request(self.web_url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return int(response.status), response.read().decode()
        except urllib.error.HTTPError as error:
            return int(error.code), error.read().decode(errors="replace")
        except OSError as error:
            return 0, str(error)

    def admin(self, method: str, path: str, body: object = None) -> tuple[int, str]:
        if self.mode == "meshgate":
            return self.admin_request(method, path, body)
        return self.http(method, path, body)


@dataclass
class Setup:
    mode: str
    broker: BenchBroker
    keys: Keys
    service: MeshgateProcess | None = None
    policy_dir: Path | None = None

    def client_token(self, i: int) -> str:
        return self.keys.token(self.mode, i)


def builtin_extra(keys_file: Path, admin_token: str) -> dict[str, str]:
    return {
        "authenticationProviders": "org.apache.pulsar.broker.authentication.AuthenticationProviderToken",
        "tokenPublicKey": f"file://{keys_file}",
        "authorizationProvider": "org.apache.pulsar.broker.authorization.PulsarAuthorizationProvider",
        "authorizationAllowWildcardsMatching": "true",
        "superUserRoles": ADMIN,
        "brokerClientTlsEnabled": "false",
        "brokerClientAuthenticationPlugin": "org.apache.pulsar.client.impl.auth.AuthenticationToken",
        "brokerClientAuthenticationParameters": f"token:{admin_token}",
    }


@contextmanager
def running(
    mode: str,
    workdir: Path,
    line: str = "4.0",
    extra: dict[str, str] | None = None,
    watch_policy: bool = False,
) -> Iterator[Setup]:
    """A broker of `mode` with tenant acme and namespace acme/bench ready for the bench clients."""
    workdir.mkdir(parents=True, exist_ok=True)
    keys = Keys()
    pki = dev_pki.create(workdir / "pki")
    (workdir / "token-public.der").write_bytes(keys.public_der())
    admin_token = keys.token("builtin", None)
    with jwks_server(keys.jwks()) as jwks_url:
        service = policy_dir = None
        if mode == "meshgate":
            policy_dir = workdir / "policies"
            policy_dir.mkdir(parents=True, exist_ok=True)
            (policy_dir / "bench.yaml").write_text(yaml.safe_dump(POLICY, sort_keys=False))
            issuer = {
                "issuer": ISSUER,
                "jwks_url": jwks_url,
                "audiences": ["pulsar"],
                "kind": "kubernetes",
                "trust_domain": TD,
            }
            config = write_config(
                workdir / "meshgate.yaml",
                port=0,
                policy_dir=policy_dir,
                trust_bundles=[f"{TD}={pki.ca_file}"],
                superusers=[dev_pki.BROKER_ID],
                extra={"oidc": {"issuers": [issuer]}, "policy": {"watch": watch_policy}},
            )
            # As deployed (deploy/kubernetes): the shim reaches its sidecar over a Unix domain socket.
            service = MeshgateProcess(config, workdir / "meshgate.log", socket=workdir / "meshgate.sock")
            service.start()
        # The shim runs at its shipped defaults (issue #22): what users run is what is measured.
        settings = BrokerSettings(
            pki=pki,
            meshgate_target=service.target if service else "127.0.0.1:1",
            workdir=workdir / "broker",
            line=line,
            revoke_sessions=mode == "meshgate",
            extra=(extra or {})
            | (builtin_extra(workdir / "token-public.der", admin_token) if mode == "builtin" else {}),
        )
        broker = BenchBroker(settings, mode, admin_token)
        try:
            broker.start()
            _bootstrap(broker)
            yield Setup(mode, broker, keys, service, policy_dir)
        finally:
            broker.stop()
            if service is not None:
                service.stop()


def _bootstrap(broker: BenchBroker) -> None:
    status, body = broker.admin(
        "PUT", f"/admin/v2/tenants/{TENANT}", {"adminRoles": [], "allowedClusters": ["standalone"]}
    )
    if status not in (204, 409):
        raise RuntimeError(f"tenant: {status} {body}")
    status, body = broker.admin("PUT", f"/admin/v2/namespaces/{NAMESPACE}")
    if status not in (204, 409):
        raise RuntimeError(f"namespace: {status} {body}")
    if broker.mode == "builtin":
        role = urllib.parse.quote(f"{ROLE_PATTERN}*", safe="")
        status, body = broker.admin(
            "POST", f"/admin/v2/namespaces/{NAMESPACE}/permissions/{role}", ["produce", "consume"]
        )
        if status not in (204,):
            raise RuntimeError(f"grant: {status} {body}")


def stats_publishers(broker: BenchBroker, topic: str) -> int:
    status, body = broker.admin("GET", "/admin/v2/" + topic.replace("://", "/") + "/stats")
    if status != 200:
        return -1
    data: dict[str, Any] = json.loads(body)
    return len(data.get("publishers", []))
