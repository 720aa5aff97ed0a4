"""Make `tests.*` importable (the repository root on sys.path) for the shared OIDC test helpers."""

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[3])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
