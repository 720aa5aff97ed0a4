"""Standalone Pulsar brokers for the end-to-end tests: which Pulsar lines run, and one home for how a test
starts a broker whose shim asks a meshgate service.

MESHGATE_PULSAR_LINES (comma-separated, default "4.0,4.2") narrows the lines every per-line fixture runs on.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest

from devtools import pki as dev_pki
from devtools.broker import BrokerSettings, StandaloneBroker
from devtools.service import MeshgateProcess

LINES = [line for line in os.environ.get("MESHGATE_PULSAR_LINES", "4.0,4.2").split(",") if line]
F = TypeVar("F", bound=Callable[..., Any])


def per_line(scope: str) -> Callable[[F], F]:
    """A fixture run once per Pulsar line of `LINES` (`request.param` is the line; test ids `pulsar-4.0`)."""
    fixture: Callable[[F], F] = pytest.fixture(scope=scope, params=LINES, ids=lambda line: f"pulsar-{line}")  # type: ignore[call-overload]
    return fixture


@contextmanager
def started_broker(
    tmp_path_factory: pytest.TempPathFactory,
    pki: dev_pki.DevPki,
    meshgate: MeshgateProcess,
    name: str,
    **settings: Any,
) -> Iterator[StandaloneBroker]:
    """A standalone broker asking `meshgate`, in a new work folder `name`, with `settings` (BrokerSettings
    fields: `line`, `extra`, ...) and the `acme/payments` namespace the e2e policies govern; stopped on exit,
    also when its start or the namespace fails."""
    workdir = tmp_path_factory.mktemp(name)
    instance = StandaloneBroker(
        BrokerSettings(pki=pki, meshgate_target=meshgate.target, workdir=workdir, **settings)
    )
    try:
        seconds = instance.start()
        print(f"\npulsar {instance.settings.line} standalone broker {name} ready in {seconds:.1f}s")
        instance.create_namespaces("acme/payments")
        # The first topic of a namespace makes the broker create the namespace's system topic too (4-10 s on a
        # fresh 4.2 broker on 2 busy CPUs), longer than the tests' 5 s client timeouts: pay it here, once.
        instance.create_topic("persistent://acme/payments/e2e-first-topic")
        yield instance
    finally:
        instance.stop()
