"""The metric names meshgate exports, read from the sources that register them: the service's metrics
modules and the broker plugin's Java. Deploy artefacts (alerts, the dashboard) are checked against it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_SERVICE = ROOT / "service" / "meshgate" / "server"
_SHIM = ROOT / "plugin-shim" / "src" / "main" / "java" / "dev" / "meshgate" / "pulsar"


def _sources() -> str:
    return "".join(p.read_text() for p in [*_SERVICE.glob("*metrics*.py"), *_SHIM.glob("*.java")])


def is_exported(name: str) -> bool:
    """Whether `name` (as a query spells it, with a `_total`/`_bucket`/`_info` suffix or without) is a
    metric meshgate or its broker plugin registers."""
    base = re.sub(r"_(total|bucket|info)$", "", name)
    text = _sources()
    return f'"{base}"' in text or f'"{name}"' in text


def meshgate_metrics_in(expr: str) -> set[str]:
    """The meshgate metric names a PromQL expression reads."""
    return set(re.findall(r"\b(meshgate_[a-z0-9_]+)", expr))
