"""Run the real `oidc-provider-mock` as a separate process on 127.0.0.1 and obtain ID tokens from it.

Tokens come from its HTTP endpoints via the authorization-code flow: POST /oauth2/authorize (form `sub`),
then POST /oauth2/token. Custom claims (e.g. `groups`) are set with PUT /users/<sub>.

What the mock cannot do (checked in oidc_provider_mock 0.3.4 source): it signs ID tokens with one RSA key per
process, RS256 only, and puts **no `kid`** in the token header (its JWKS does carry a kid); the issuer is
`http://127.0.0.1:<port>`; `aud` is the client_id; it cannot rotate keys, change `exp`/`iss`, or send
Cache-Control. Rotation, outage and caching headers are therefore played against `tests.support.jwks_server`.
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

REDIRECT_URI = "http://127.0.0.1/callback"


@dataclass
class OidcProvider:
    issuer: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def set_user(self, sub: str, claims: Mapping[str, Any]) -> None:
        body = json.dumps(dict(claims)).encode()
        request = urllib.request.Request(
            f"{self.issuer}/users/{urllib.parse.quote(sub)}", data=body, method="PUT"
        )
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 204

    def id_token(self, sub: str, *, client_id: str = "pulsar", scope: str = "openid email profile") -> str:
        code = self._authorization_code(sub, client_id, scope)
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "client_id": client_id,
            "client_secret": "unused",
        }
        data = urllib.parse.urlencode(form).encode()
        with urllib.request.urlopen(f"{self.issuer}/oauth2/token", data=data, timeout=5) as response:
            token = json.load(response)["id_token"]
        assert isinstance(token, str)
        return token

    def _authorization_code(self, sub: str, client_id: str, scope: str) -> str:
        query = {
            "client_id": client_id,
            "redirect_uri": REDIRECT_URI,
            "response_type": "code",
            "scope": scope,
        }
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request(
                "POST",
                "/oauth2/authorize?" + urllib.parse.urlencode(query),
                body=urllib.parse.urlencode({"sub": sub}),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            response = conn.getresponse()
            location = response.getheader("Location") or ""
            response.read()
        finally:
            conn.close()
        return urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["code"][0]

    def stop(self) -> None:
        """Stop the process (an IdP outage). Idempotent."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_ready(provider: OidcProvider, log: IO[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if provider.process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(provider.discovery_url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    log.seek(0)
    raise RuntimeError(f"oidc-provider-mock did not start: {log.read()[-2000:]!r}")


@contextmanager
def oidc_provider(*, token_max_age: int = 3600, startup_timeout: float = 20.0) -> Iterator[OidcProvider]:
    """Start `python -m oidc_provider_mock` on a free loopback port; stop it on exit."""
    port = _free_port()
    args = [sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1", "--port", str(port)]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen([*args, "--token-max-age", str(token_max_age)], stdout=log, stderr=log)
        provider = OidcProvider(f"http://127.0.0.1:{port}", port, process)
        try:
            _wait_ready(provider, log, startup_timeout)
            yield provider
        finally:
            provider.stop()
