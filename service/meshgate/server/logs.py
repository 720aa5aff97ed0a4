"""The service log: one record, one line, whatever a caller put in the strings it logs.

Peer addresses, token header fields and names in certificates reach log messages; a line break or a
terminal escape in one would split a record or forge a new one. The formatter writes every character
that is not printable (line breaks of `str.splitlines`, controls, U+2028/U+2029) as its Python escape.
A traceback still follows on its own lines: it is appended after the message, by the formatter.
"""

from __future__ import annotations

import json
import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def printable(text: str) -> str:
    """`text` with each character that is not printable written as its escape (`\\n`, `\\u2028`)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class OneLineFormatter(logging.Formatter):
    def formatMessage(self, record: logging.LogRecord) -> str:
        return printable(super().formatMessage(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message (and the traceback, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line)  # JSON escapes every control character: one record, one line


def configure(level: str, output: str = "table") -> None:
    """Log to stderr at `level` (DEBUG, INFO, WARNING, ERROR), one line per record: text (`table`) or
    a JSON object (`json`)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if output == "json" else OneLineFormatter(FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler])
