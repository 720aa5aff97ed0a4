"""What an audit record is, to the audit package: a JSON object of one event (`meshgate.server.wire` builds
them from a call's messages), and which records are never sampled out."""

from __future__ import annotations

from typing import Any

Record = dict[str, Any]


def is_denial(record: Record) -> bool:
    """Denials and rejections are always written; only allows and successful logins may be sampled."""
    return record.get("decision") == "deny" or record.get("result") == "rejected"
