"""What every local Pulsar JVM shares (standalone broker, cluster brokers, proxy, ZooKeeper, bookie, admin
CLI): the `java` command line, the HTTPS admin call with a dev-PKI certificate, stopping a process group."""

from __future__ import annotations

import json
import os
import shutil
import signal
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from devtools.pki import DevPki

ROOT = Path(__file__).resolve().parent.parent
LOG4J = ROOT / "devtools" / "log4j2.xml"

JVM_FLAGS = [
    "-XX:MaxDirectMemorySize=512m",
    "-Djava.net.preferIPv4Stack=true",
    "-Djute.maxbuffer=10485760",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dorg.apache.pulsar.shade.io.netty.tryReflectionSetAccessible=true",
    "-Dlog4j.shutdownHookEnabled=false",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/java.util.zip=ALL-UNNAMED",
    "--add-opens=java.management/sun.management=ALL-UNNAMED",
    "--add-opens=jdk.management/com.sun.management.internal=ALL-UNNAMED",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.misc=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.platform=ALL-UNNAMED",
    "--enable-native-access=ALL-UNNAMED",
]


def java_command(
    classpath: str,
    main: str,
    args: list[str],
    log: Path,
    heap: tuple[str, str] = ("256m", "1g"),
    shim_log_level: str = "debug",
) -> list[str]:
    """`java` running `main` with Pulsar's JVM flags and `heap` (initial, maximum), logging through
    devtools/log4j2.xml into `log` (the shim at `shim_log_level`)."""
    return [
        shutil.which("java") or "java",
        f"-Xms{heap[0]}",
        f"-Xmx{heap[1]}",
        *JVM_FLAGS,
        f"-Dlog4j.configurationFile={LOG4J}",
        f"-Dmeshgate.broker.log={log}",
        f"-Dmeshgate.shim.log.level={shim_log_level}",
        "-cp",
        classpath,
        main,
        *args,
    ]


def start_java(command: list[str], workdir: Path, name: str) -> subprocess.Popen[bytes]:
    """Start `command` in its own process group, so `stop_group` reaches its children; stdout to
    <name>.stdout."""
    workdir.mkdir(parents=True, exist_ok=True)
    with (workdir / f"{name}.stdout").open("wb") as out:
        return subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, cwd=workdir, start_new_session=True
        )


def stop_group(process: subprocess.Popen[bytes] | None, grace: float = 20.0) -> None:
    """SIGTERM the process group, SIGKILL it after `grace` seconds."""
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def https_request(
    base_url: str,
    pki: DevPki,
    identity: str,
    method: str,
    path: str,
    body: object = None,
    extra_headers: dict[str, str] | None = None,
    *,
    name_method: bool = True,
) -> tuple[int, str]:
    """An admin REST call authenticated by `identity`'s client certificate (a name in the dev PKI).

    `name_method` sends `X-Pulsar-Auth-Method-Name: tls`. Not through a Pulsar proxy: the proxy passes the
    header on, and the broker then authenticates the proxy's own credential (a token) as `tls` and refuses it.
    """
    context = ssl.create_default_context(cafile=str(pki.ca_file))
    context.load_cert_chain(str(pki.cert(identity)), str(pki.key(identity)))
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **(extra_headers or {})}
    if name_method:
        headers["X-Pulsar-Auth-Method-Name"] = "tls"
    url = base_url + path
    for _ in range(3):  # a broker redirects (307) to the one that owns the resource, as pulsar-admin follows
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, context=context, timeout=10) as response:
                return int(response.status), response.read().decode()
        except urllib.error.HTTPError as error:
            location = error.headers.get("Location")
            if error.code != 307 or not location:
                return int(error.code), error.read().decode(errors="replace")
            url = location
    return 307, f"too many redirects, last to {url}"
