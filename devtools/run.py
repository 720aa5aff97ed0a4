"""`make run`: a local Pulsar standalone broker + meshgate with the example policy repository.

Mints a dev CA and client certificates under var/dev/pki, starts `meshgate serve` and the broker (shim
loaded), creates the `acme/payments` namespace as the broker's super user, prints how to connect, and
shuts both down on Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Protocol

from devtools import pki as dev_pki
from devtools.broker import BrokerPorts, BrokerSettings, StandaloneBroker
from devtools.ports import free_port
from devtools.service import MeshgateProcess, write_config

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var" / "dev"


def _port(preferred: int) -> int:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
        except OSError:
            return free_port()
    return preferred


def _say(text: str) -> None:
    """Print to the terminal, and keep going when it is gone.

    `make run | tee run.log` then Ctrl-C: the interrupt stops `tee` too, and the next print raises
    BrokenPipeError. Shutting down must not depend on anyone still reading, so further output goes nowhere.
    """
    try:
        print(text, flush=True)
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _step(text: str) -> None:
    _say(f"==> {text}")


def main() -> int:
    _step(f"dev PKI (trust domain {dev_pki.TRUST_DOMAIN}) in {VAR / 'pki'}")
    pki = dev_pki.create(VAR / "pki")
    grpc_port = _port(50051)
    service = MeshgateProcess(
        write_config(
            VAR / "meshgate.yaml",
            port=grpc_port,
            policy_dir=ROOT / "policies" / "examples",
            trust_bundles=[f"{dev_pki.TRUST_DOMAIN}={pki.ca_file}"],
            superusers=[dev_pki.BROKER_ID],
        ),
        VAR / "meshgate.log",
        port=grpc_port,
    )
    ports = BrokerPorts(_port(6650), _port(6651), _port(8080), _port(8443), free_port())
    broker = StandaloneBroker(BrokerSettings(pki, service.target, VAR / "broker", ports=ports))
    try:
        _step(f"meshgate service on {service.target} (log: {service.log})")
        service.start()
        _step(f"Pulsar standalone broker with the meshgate shim (log: {broker.log}); ~10 s")
        took = broker.start()
        _step(f"broker ready in {took:.1f}s; creating tenant acme and namespace acme/payments")
        broker.admin_request(
            "PUT", "/admin/v2/tenants/acme", {"adminRoles": [], "allowedClusters": ["standalone"]}
        )
        broker.admin_request("PUT", "/admin/v2/namespaces/acme/payments", None)
        _say(_howto(broker, pki))
        _wait_for_interrupt()
    finally:
        _stop_all(broker, service)
    return 0


class _Stoppable(Protocol):
    def stop(self) -> None: ...


def _stop_all(*processes: _Stoppable) -> None:
    """Stop every process, even when telling the user about it fails or one stop raises."""
    try:
        _step("stopping broker and meshgate")
    finally:
        errors: list[BaseException] = []
        for process in processes:
            try:
                process.stop()
            except Exception as error:  # the others must still be stopped
                errors.append(error)
        if errors:
            raise errors[0]


def _howto(broker: StandaloneBroker, pki: dev_pki.DevPki) -> str:
    return f"""
meshgate is running. Connect as the payments writer (allowed to produce to persistent://acme/payments/*):

  .venv/bin/python - <<'PY'
  import pulsar
  client = pulsar.Client("{broker.service_url_tls}",
      authentication=pulsar.AuthenticationTLS("{pki.cert("writer")}", "{pki.key("writer")}"),
      tls_trust_certs_file_path="{pki.ca_file}")
  client.create_producer("persistent://acme/payments/orders").send(b"hello")
  client.close()
  PY

The reader identity is {pki.cert("reader")} / {pki.key("reader")}; it may consume but not produce.
Ask the policy directly:  .venv/bin/meshgate check --policy policies/examples \\
    --principal {dev_pki.WORKLOADS["writer"]} --action topic.produce --resource persistent://acme/payments/orders
Press Ctrl-C to stop.
"""


def _wait_for_interrupt() -> None:
    stop = False

    def handler(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGHUP, handler)
    while not stop:
        time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main())
