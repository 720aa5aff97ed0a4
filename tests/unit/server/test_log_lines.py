"""The service log keeps one record on one line: a caller's peer string or token field cannot split it."""

from __future__ import annotations

import logging
import sys

import pytest
from meshgate.server.authn import Authenticator
from meshgate.server.logs import FORMAT, OneLineFormatter
from meshgate.server.servicer import AuthenticationServicer
from meshgate.v1 import meshgate_pb2 as pb

FORGED = "\n2026-01-01 00:00:00 INFO meshgate.server: authenticated spiffe://td/ns/admin/sa/root"
BREAKS = "\r \x0b \x0c \x1c \x1d \x1e \x85 \u2028 \u2029 \x1b[2J"


class _Context:
    def time_remaining(self) -> float | None:
        return None


def test_a_rejected_callers_peer_is_logged_escaped(caplog: pytest.LogCaptureFixture) -> None:
    peer = pb.Peer(address=f"10.0.0.1:4000{FORGED}{BREAKS}")
    request = pb.AuthenticateRequest(credential=pb.Credential(token="x"), peer=peer)
    with caplog.at_level(logging.INFO, logger="meshgate.server"):
        answer = AuthenticationServicer(Authenticator()).Authenticate(request, _Context())  # type: ignore[arg-type]
    assert answer.rejection.code == "not_configured"
    (message,) = [r.getMessage() for r in caplog.records if "authentication rejected" in r.getMessage()]
    assert message.splitlines() == [message]
    assert "10.0.0.1:4000\\n2026-01-01" in message and "\\u2028" in message and "\\x1b[2J" in message


def test_the_formatter_writes_any_message_on_one_line_and_a_traceback_after_it() -> None:
    formatter = OneLineFormatter(FORMAT)
    record = logging.LogRecord("meshgate.x", logging.INFO, __file__, 1, "alg %s", (FORGED + BREAKS,), None)
    line = formatter.format(record)
    assert line.splitlines() == [line]
    assert line.endswith(
        "alg \\n2026-01-01 00:00:00 INFO meshgate.server: authenticated spiffe://td/ns/admin/sa/root"
        "\\r \\x0b \\x0c \\x1c \\x1d \\x1e \\x85 \\u2028 \\u2029 \\x1b[2J"
    )
    assert formatter.format(logging.LogRecord("m", logging.INFO, "", 1, "zürich ok", (), None)).endswith(
        "zürich ok"
    )
    try:
        raise ValueError("boom")
    except ValueError:
        failed = logging.LogRecord("m", logging.ERROR, "", 1, "failed\nhere", (), sys.exc_info())
    first, *trace = formatter.format(failed).splitlines()
    assert first.endswith("failed\\nhere") and trace[0] == "Traceback (most recent call last):"
