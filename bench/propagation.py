"""Part 5: policy commit → effect, through the real broker (meshgate mode, Pulsar 4.0).

Each round: a live producer (named) on a fresh topic, then a commit that denies `topic.produce` on that
topic to the producer's principal (one new rule file, written atomically as git-sync swaps a checkout).
From the commit: (a) a poller tries a *new* producer every 20 ms until the broker refuses it; (b) a
poller reads the topic's stats every 20 ms until the named live producer is gone (the shim's session
revoker re-checks live producers on every new revision). The service watches the folder (watchfiles,
300 ms debounce, then compile and run the folder's test suites before the swap).
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulsar
import yaml

from bench import brokerenv
from bench.stats import summary

POLL = 0.02
LIMIT = 15.0


def _deny(directory: Path, name: str, principal: str, topic: str) -> None:
    doc = {
        "apiVersion": "meshgate.dev/v1",
        "kind": "AccessPolicy",
        "metadata": {"name": name},
        "rules": [
            {
                "name": f"{name}-deny",
                "effect": "deny",
                "subjects": [{"spiffe": principal}],
                "actions": ["topic.produce"],
                "resources": [topic],
            }
        ],
    }
    staging = directory / f".{name}.tmp"
    staging.write_text(yaml.safe_dump(doc, sort_keys=False))
    staging.rename(directory / f"{name}.yaml")


def _until(check: Callable[[], bool], began: float) -> float | None:
    while time.monotonic() - began < LIMIT:
        if check():
            return time.monotonic() - began
        time.sleep(POLL)
    return None


def _live_gone(broker: brokerenv.BenchBroker, topic: str, name: str) -> Callable[[], bool]:
    def check() -> bool:
        status, body = broker.admin("GET", "/admin/v2/" + topic.replace("://", "/") + "/stats")
        if status != 200:
            return False
        return all(p.get("producerName") != name for p in json.loads(body).get("publishers", []))

    return check


def _new_refused(client: pulsar.Client, topic: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            client.create_producer(topic).close()
        except pulsar.AuthorizationError:
            return True
        except pulsar.PulsarException:
            return False
        return False

    return check


def one_round(setup: brokerenv.Setup, live: pulsar.Client, probe: pulsar.Client, i: int) -> dict[str, Any]:
    assert setup.policy_dir is not None
    topic = f"persistent://{brokerenv.NAMESPACE}/revoke-{i}"
    name = f"live-{i}"
    producer = live.create_producer(topic, producer_name=name)
    producer.send(b"before")
    probe.create_producer(topic).close()  # allowed now; the shim caches that allow
    results: dict[str, float | None] = {}
    began = time.monotonic()
    _deny(setup.policy_dir, f"revoke-{i}", brokerenv.principal(0), topic)
    threads = [
        threading.Thread(
            target=lambda: results.__setitem__("new_denied", _until(_new_refused(probe, topic), began))
        ),
        threading.Thread(
            target=lambda: results.__setitem__(
                "live_disconnected", _until(_live_gone(setup.broker, topic, name), began)
            )
        ),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    producer.close()
    return results


def run(quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    commits = 10 if quick else 50
    rounds: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="meshgate-bench-prop-") as tmp:
        log("propagation: starting meshgate + Pulsar 4.0 (policy watched)")
        with brokerenv.running("meshgate", Path(tmp) / "meshgate", watch_policy=True) as setup:
            token = setup.client_token(0)
            opts = {"operation_timeout_seconds": 5, "logger": pulsar.ConsoleLogger(pulsar.LoggerLevel.Error)}
            live = pulsar.Client(
                setup.broker.service_url, authentication=pulsar.AuthenticationToken(token), **opts
            )
            probe = pulsar.Client(
                setup.broker.service_url, authentication=pulsar.AuthenticationToken(token), **opts
            )
            try:
                for i in range(commits):
                    rounds.append(one_round(setup, live, probe, i))
                    r = rounds[-1]
                    log(
                        f"    commit {i + 1}/{commits}: new producer denied after {_fmt(r['new_denied'])}, "
                        f"live producer gone after {_fmt(r['live_disconnected'])}"
                    )
            finally:
                live.close()
                probe.close()
    out: dict[str, Any] = {"commits": commits, "rounds": rounds, "poll_s": POLL, "limit_s": LIMIT}
    for key in ("new_denied", "live_disconnected"):
        values = [r[key] for r in rounds if r[key] is not None]
        out[key] = summary(values) | {"missing": commits - len(values)}
    return out


def _fmt(value: float | None) -> str:
    return "never" if value is None else f"{value * 1000:.0f} ms"
