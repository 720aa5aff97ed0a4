"""A real Keycloak (the Quarkus distribution from Maven Central) on loopback, for the end-to-end tests.

`start-dev` with an in-memory database, the realm imported from `devtools/keycloak/meshgate-realm.json`.
Keycloak 26 needs Java 21 or newer: `find_java()` looks at KEYCLOAK_JAVA_HOME, JAVA_HOME and the JDKs under
/usr/lib/jvm, and fails with a message that says what to install. The distribution is unpacked once into
`.cache/keycloak/<version>/`; each run gets its own home directory whose `bin/` is a copy of the scripts and
whose `lib/`, `conf/`, `providers/`, `themes/` link to the cache, so runs never share data.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from devtools.ports import free_port

ROOT = Path(__file__).resolve().parent.parent
VERSION = "26.5.6"
REALM = "meshgate"
REALM_FILE = ROOT / "devtools" / "keycloak" / "meshgate-realm.json"
ADMIN = ("admin", "admin-pw")
MIN_JAVA = 21


class KeycloakUnavailable(RuntimeError):
    """Keycloak cannot run here (no Java 21+, no distribution); the message says what to do."""


def cache_dir(version: str = VERSION) -> Path:
    return ROOT / ".cache" / "keycloak" / version


def distribution(version: str = VERSION) -> Path:
    return cache_dir(version) / f"keycloak-{version}"


def ensure_downloaded(version: str = VERSION) -> Path:
    """Fetch the zip from Maven Central with Maven (once) and unpack it; returns the distribution folder."""
    home = distribution(version)
    if (home / "bin" / "kc.sh").exists():
        return home
    target = cache_dir(version)
    archive = target / f"keycloak-quarkus-dist-{version}.zip"
    if not archive.exists():
        subprocess.run(
            [
                str(ROOT / "build-support" / "mvn"), "-B", "-q", "-Dstyle.color=never",
                "-s", str(ROOT / "build-support" / "maven-settings.xml"),
                "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy",
                f"-Dartifact=org.keycloak:keycloak-quarkus-dist:{version}:zip", f"-DoutputDirectory={target}",
            ],
            check=True,
        )  # fmt: skip
    partial = target / "unpacking"
    shutil.rmtree(partial, ignore_errors=True)
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(partial)
    for script in (partial / f"keycloak-{version}" / "bin").glob("*.sh"):
        script.chmod(0o755)
    (partial / f"keycloak-{version}").rename(home)
    partial.rmdir()
    return home


def java_version(java_home: Path) -> int:
    """The feature version in `<java_home>/release` (`JAVA_VERSION="25.0.1"` -> 25); 0 when unreadable."""
    try:
        text = (java_home / "release").read_text()
    except OSError:
        return 0
    found = re.search(r'^JAVA_VERSION="(\d+)(?:\.(\d+))?', text, re.MULTILINE)
    if not found:
        return 0
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major


def find_java(env: dict[str, str] | None = None, jvm_dir: Path = Path("/usr/lib/jvm")) -> Path:
    """A JAVA_HOME of Java 21+: KEYCLOAK_JAVA_HOME, then JAVA_HOME, then the newest under `jvm_dir`."""
    env = dict(os.environ) if env is None else env
    named = [Path(env[k]) for k in ("KEYCLOAK_JAVA_HOME", "JAVA_HOME") if env.get(k)]
    found = sorted(jvm_dir.iterdir(), key=java_version, reverse=True) if jvm_dir.is_dir() else []
    for home in [*named, *found]:
        if java_version(home) >= MIN_JAVA and (home / "bin" / "java").exists():
            return home
    seen = ", ".join(f"{h} ({java_version(h) or '?'})" for h in [*named, *found]) or "none"
    raise KeycloakUnavailable(
        f"Keycloak {VERSION} needs Java {MIN_JAVA} or newer and none was found (looked at: {seen}); "
        "install one (e.g. apt-get install openjdk-21-jdk-headless, or a Temurin 21+ JDK) or point "
        "KEYCLOAK_JAVA_HOME at it"
    )


@dataclass
class Keycloak:
    """`start()` returns the seconds until the realm's discovery document answered; `stop()` ends it."""

    workdir: Path
    port: int = field(default_factory=free_port)
    version: str = VERSION
    _process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def issuer(self) -> str:
        return f"{self.base_url}/realms/{REALM}"

    @property
    def token_url(self) -> str:
        return f"{self.issuer}/protocol/openid-connect/token"

    @property
    def log(self) -> Path:
        return self.workdir / "keycloak.log"

    def start(self, timeout: float = 300.0) -> float:
        java = find_java()
        home = self._home(ensure_downloaded(self.version))
        began = time.monotonic()
        env = {
            **os.environ,
            "JAVA_HOME": str(java),
            "KC_BOOTSTRAP_ADMIN_USERNAME": ADMIN[0],
            "KC_BOOTSTRAP_ADMIN_PASSWORD": ADMIN[1],
            "JAVA_OPTS_KC_HEAP": "-Xms128m -Xmx512m",
            # Java 24+: JBoss threads resets thread locals through reflection (else an error at start).
            "JAVA_OPTS_APPEND": "--add-opens=java.base/java.lang=ALL-UNNAMED",
        }
        command = [
            str(home / "bin" / "kc.sh"), "start-dev", "--import-realm", "--db=dev-mem",
            # A fixed hostname keeps `iss` the same whichever address a request came through.
            f"--http-port={self.port}", "--http-host=127.0.0.1", f"--hostname={self.base_url}",
            "--health-enabled=false", "--cache=local", "--log-level=WARN",
        ]  # fmt: skip
        with self.log.open("ab") as out:
            self._process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=home, start_new_session=True
            )
        self._wait_ready(began + timeout)
        return time.monotonic() - began

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait(10)
        self._process = None

    def _home(self, dist: Path) -> Path:
        home = self.workdir / "home"
        (home / "bin").mkdir(parents=True, exist_ok=True)
        for script in (dist / "bin").glob("kc.sh"):
            shutil.copy2(script, home / "bin" / script.name)
        for part in ("lib", "conf", "providers", "themes"):
            if not (home / part).exists():
                (home / part).symlink_to(dist / part)
        (home / "data" / "import").mkdir(parents=True, exist_ok=True)
        shutil.copy(REALM_FILE, home / "data" / "import" / REALM_FILE.name)
        return home

    def _wait_ready(self, deadline: float) -> None:
        url = f"{self.issuer}/.well-known/openid-configuration"
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"keycloak exited with {self._process.returncode}; see {self.log}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"keycloak not ready in time; see {self.log}")

    # --- tokens and the admin API ----------------------------------------------------------------------

    def password_token(self, user: str, password: str, client: str = "pulsar-cli") -> str:
        return self._token(
            {"grant_type": "password", "client_id": client, "username": user, "password": password}
        )

    def client_token(self, client: str = "ci-pipeline", secret: str = "ci-pipeline-secret") -> str:
        return self._token({"grant_type": "client_credentials", "client_id": client, "client_secret": secret})

    def _token(self, form: dict[str, str]) -> str:
        body = _post_form(self.token_url, form)
        return str(body["access_token"])

    def admin_token(self) -> str:
        form = {
            "grant_type": "password",
            "client_id": "admin-cli",
            "username": ADMIN[0],
            "password": ADMIN[1],
        }
        return str(
            _post_form(f"{self.base_url}/realms/master/protocol/openid-connect/token", form)["access_token"]
        )

    def admin(self, method: str, path: str, body: object = None) -> object:
        """Call the admin REST API (`/admin/realms/<realm>` + path) as the bootstrap admin."""
        url = f"{self.base_url}/admin/realms/{REALM}{path}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.admin_token()}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
        return json.loads(raw) if raw else None


def _post_form(url: str, form: dict[str, str]) -> dict[str, object]:
    data = urllib.parse.urlencode(form).encode()
    with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=30) as response:
        body: dict[str, object] = json.loads(response.read())
    return body


def main(argv: list[str] | None = None) -> int:
    """`python -m devtools.keycloak prepare`: download and unpack the distribution, check for Java 21+."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if args != ["prepare"]:
        print("usage: python -m devtools.keycloak prepare", file=sys.stderr)
        return 2
    try:
        java = find_java()
    except KeycloakUnavailable as err:
        print(f"keycloak: {err}", file=sys.stderr)
        return 1
    if not (distribution() / "bin" / "kc.sh").exists():
        print(f"==> downloading Keycloak {VERSION} from Maven Central into .cache/keycloak/ (about 165 MB)")
    home = ensure_downloaded()
    print(f"keycloak {VERSION}: {home} (Java: {java})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
