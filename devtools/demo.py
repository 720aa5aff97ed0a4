"""`python -m devtools.demo produce`: a producer that keeps sending, for trying policy changes on `make run`.

It reads the URLs and certificates `make run` wrote to var/dev/run.json, sends one message a second as the
chosen workload, and prints each outcome, so a policy edit that revokes it shows up as the line where
sending starts to fail. Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

from devtools.run import DEMO_TOPIC, STATE_FILE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.demo")
    sub = parser.add_subparsers(dest="command", required=True)
    produce = sub.add_parser("produce", help="send a message a second and print each outcome")
    produce.add_argument("--as", dest="identity", default="writer", help="workload: writer or reader")
    produce.add_argument("--topic", default=DEMO_TOPIC)
    produce.add_argument("--count", type=int, default=0, help="stop after this many sends (0: never)")
    args = parser.parse_args(argv)
    if not STATE_FILE.exists():
        print(f"{STATE_FILE} not found: start `make run` first", file=sys.stderr)
        return 2
    state = json.loads(STATE_FILE.read_text())
    return _produce(state, args.identity, args.topic, args.count)


def _produce(state: dict[str, str], identity: str, topic: str, count: int) -> int:
    import pulsar  # the client is only needed by this command

    pki = Path(state["pki"])
    client = pulsar.Client(
        state["broker_url"],
        authentication=pulsar.AuthenticationTLS(
            str(pki / f"{identity}.cert.pem"), str(pki / f"{identity}.key.pem")
        ),
        tls_trust_certs_file_path=str(pki / "ca.pem"),
        operation_timeout_seconds=30,
        logger=pulsar.ConsoleLogger(pulsar.LoggerLevel.Warn),  # the demo's own lines stay readable
    )
    signal.signal(signal.SIGINT, _stop_now)
    try:
        producer = client.create_producer(topic, send_timeout_millis=10_000)
        print(f"producing to {topic} as {identity}; Ctrl-C stops", flush=True)
        sent = 0
        while count == 0 or sent < count:
            sent += 1
            try:
                producer.send(f"message {sent}".encode())
                print(f"{time.strftime('%H:%M:%S')} sent message {sent}", flush=True)
            except Exception as error:  # the demo's point: show what the client sees
                print(f"{time.strftime('%H:%M:%S')} send failed: {error}", flush=True)
            time.sleep(1)
    except Exception as error:
        print(f"cannot produce to {topic} as {identity}: {error}", file=sys.stderr)
        return 1
    finally:
        _close_quickly(client)
    return 0


def _stop_now(signum: int, frame: object) -> None:
    """Ctrl-C: the client library may hold the interrupt until a blocked send or a refused producer's
    close gives up (up to its timeouts); a demo should stop at once. The broker sees the connection go."""
    print("stopped", flush=True)
    os._exit(0)


def _close_quickly(client: object) -> None:
    """A producer the broker has refused may keep close() waiting for the operation timeout; Ctrl-C should
    not wait that long, so give it two seconds and leave the rest to the process exit."""
    closer = threading.Thread(target=client.close, daemon=True)  # type: ignore[attr-defined]
    closer.start()
    closer.join(timeout=2)


if __name__ == "__main__":
    sys.exit(main())
