"""Report sections for the parts that run processes (gRPC, broker, propagation, memory)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SECTIONS: list[tuple[str, str, Callable[[dict[str, Any], list[list[str]]], str]]] = []
