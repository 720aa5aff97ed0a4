"""A tiny deterministic splitter of fuzz input (no atheris needed, so regressions replay anywhere)."""

from __future__ import annotations


class Reader:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def byte(self) -> int:
        if self._pos >= len(self._data):
            return 0
        self._pos += 1
        return self._data[self._pos - 1]

    def take(self, count: int) -> bytes:
        out = self._data[self._pos : self._pos + count]
        self._pos += len(out)
        return out

    def field(self) -> bytes:
        """Bytes up to the next NUL (consumed) or the end."""
        end = self._data.find(b"\x00", self._pos)
        end = len(self._data) if end < 0 else end
        out = self._data[self._pos : end]
        self._pos = end + 1
        return out

    def rest(self) -> bytes:
        return self.take(len(self._data))

    def text(self, raw: bytes) -> str:
        """Every byte value maps to one character, so all of the input reaches the code under test."""
        return raw.decode("latin-1")
