"""A bad shim setting in broker.conf stops the broker at start with a message naming the key (issue #6)."""

from __future__ import annotations

import pytest

from devtools import pki as dev_pki
from devtools.broker import BrokerSettings, StandaloneBroker
from devtools.service import MeshgateProcess
from tests.support.brokers import LINES

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("meshgateDeadlineMillis", "fast", "meshgateDeadlineMillis must be a whole number, got 'fast'"),
        ("meshgateTlsCaFile", "/no/ca.pem", "meshgateTlsCaFile: cannot read file '/no/ca.pem'"),
        ("meshgateFrames", "on", "meshgateFrames must be one of [auto, off], got 'on'"),
    ],
    ids=["number", "tls-file", "frames"],
)
def test_bad_value_stops_the_broker_naming_the_key(
    pki: dev_pki.DevPki,
    meshgate: MeshgateProcess,
    tmp_path_factory: pytest.TempPathFactory,
    key: str,
    value: str,
    message: str,
) -> None:
    settings = BrokerSettings(
        pki=pki,
        meshgate_target=meshgate.target,
        workdir=tmp_path_factory.mktemp("bad-config"),
        line=LINES[0],
        extra={key: value},
    )
    broker = StandaloneBroker(settings)
    with pytest.raises(RuntimeError, match="broker exited"):
        broker.start(timeout=60)
    log = broker.log.read_text(errors="replace")
    assert f"meshgate: invalid broker configuration: {message}" in log
