"""`make run`: a local Pulsar standalone broker + meshgate with the example policy repository.

Mints a dev CA and client certificates under var/dev/pki, starts `meshgate serve` and the broker (shim
loaded), creates the `acme/payments` namespace as the broker's super user, prints how to connect, and
shuts both down on Ctrl-C.
"""

from __future__ import annotations

import json
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
from devtools.service import MeshgateProcess, audit_file, write_config

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var" / "dev"
STATE_FILE = VAR / "run.json"  # what is running where, while `make run` runs
POLICY_DIR = ROOT / "policies" / "examples"
DEMO_TOPIC = "persistent://acme/payments/demo"


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
    grpc_port, http_port = _port(50051), _port(9090)
    service = MeshgateProcess(
        write_config(
            VAR / "meshgate.yaml",
            port=grpc_port,
            policy_dir=POLICY_DIR,
            trust_bundles=[f"{dev_pki.TRUST_DOMAIN}={pki.ca_file}"],
            superusers=[dev_pki.BROKER_ID],
            extra={"http": {"listen": f"127.0.0.1:{http_port}"}},
        ),
        VAR / "meshgate.log",
        port=grpc_port,
    )
    ports = BrokerPorts(_port(6650), _port(6651), _port(8080), _port(8443), free_port())
    settings = BrokerSettings(pki, service.target, VAR / "broker", ports=ports, shim_log_level="info")
    broker = StandaloneBroker(settings)
    try:
        _step(f"meshgate service on {service.target} (log: {service.log})")
        service.start()
        _step(f"Pulsar standalone broker with the meshgate shim (log: {broker.log}); ~10 s")
        took = broker.start()
        _step(f"broker ready in {took:.1f}s; creating tenant acme and namespace acme/payments")
        broker.create_namespaces("acme/payments")
        state = _state(broker, service, pki, http_port)
        STATE_FILE.write_text(json.dumps(state, indent=2) + "\n")
        _say(howto(state))
        _wait_for_interrupt()
    finally:
        STATE_FILE.unlink(missing_ok=True)
        _stop_all(broker, service)
    return 0


def _state(
    broker: StandaloneBroker, service: MeshgateProcess, pki: dev_pki.DevPki, http_port: int
) -> dict[str, str]:
    """What `make run` started, for people (printed) and for `devtools.demo` and the tests (run.json)."""
    return {
        "broker_url": broker.service_url_tls,
        "admin_url": broker.web_url_tls,
        "meshgate_grpc": service.target,
        "meshgate_http": f"http://127.0.0.1:{http_port}",
        "pki": str(pki.directory),
        "policy_dir": str(POLICY_DIR),
        "broker_log": str(broker.log),
        "meshgate_log": str(service.log),
        "audit_file": str(audit_file(service.config)),
    }


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


def howto(state: dict[str, str]) -> str:
    """The banner: where everything is and three things to try. docs/quickstart.md follows it."""
    pki, writer = state["pki"], dev_pki.WORKLOADS["writer"]
    question = f"principal={writer}&action=topic.produce&resource={DEMO_TOPIC}"
    explain = f"{state['meshgate_http']}/v1/explain?{question}"
    return f"""
meshgate is running with the example policies ({_rel(state["policy_dir"])}).

  Pulsar broker (TLS)   {state["broker_url"]}
  Pulsar admin (HTTPS)  {state["admin_url"]}  (client certificate {pki}/broker-client.cert.pem)
  meshgate gRPC         {state["meshgate_grpc"]}
  meshgate HTTP         {state["meshgate_http"]}  (/readyz /metrics /v1/explain /v1/who-can)
  logs                  {state["meshgate_log"]}, {state["broker_log"]}
  audit trail           {state["audit_file"]}

Try next (in another terminal, from {ROOT}):

  1. Produce as the payments writer, one message a second:
       .venv/bin/python -m devtools.demo produce --as writer

  2. Ask meshgate why it is allowed:
       curl -s '{explain}'

  3. Revoke it live: add a deny rule; the producer of step 1 is disconnected within a second:
       cp docs/examples/demo-deny.yaml {_rel(state["policy_dir"])}/
     and allow it again:  rm {_rel(state["policy_dir"])}/demo-deny.yaml

Press Ctrl-C to stop everything.
"""


def _rel(path: str) -> str:
    try:
        return str(Path(path).relative_to(ROOT))
    except ValueError:
        return path


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
