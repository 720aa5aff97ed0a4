"""Third-party binaries the benchmarks install at run time into gitignored folders under bench/.

- ghz (Go gRPC load generator) from the Go module proxy: `go install github.com/bojand/ghz/cmd/ghz@v0.93.0`
  (the newest version the proxy serves as a module).
- Cerbos from the npm package `@cerbos/cerbos-linux-x64` (the binary ships inside the package).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from bench.env import ROOT, TOOLS

GHZ_MODULE = "github.com/bojand/ghz/cmd/ghz@v0.93.0"
CERBOS_PACKAGE = "@cerbos/cerbos-linux-x64@0.55"
CERBOS_DIR = ROOT / "bench" / ".cerbos"


def ghz() -> Path:
    target = TOOLS / "ghz"
    if target.exists():
        return target
    go = shutil.which("go") or "/usr/local/go/bin/go"
    TOOLS.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GOBIN": str(TOOLS), "GOFLAGS": "-mod=mod"}
    subprocess.run([go, "install", GHZ_MODULE], check=True, env=env, timeout=600, capture_output=True)
    return target


def cerbos() -> Path:
    binary = CERBOS_DIR / "node_modules" / "@cerbos" / "cerbos-linux-x64" / "cerbos-linux-x64"
    if not binary.exists():
        CERBOS_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(CERBOS_DIR), CERBOS_PACKAGE],
            check=True,
            timeout=600,
            capture_output=True,
        )
    binary.chmod(0o755)
    return binary


def cerbos_version(binary: Path) -> str:
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30).stdout
    return out.split()[0] if out else "unknown"


def pinned(cpu: int | None, argv: list[str]) -> list[str]:
    """`taskset -c CPU argv` when taskset exists and the machine has more than one CPU."""
    if cpu is None or (os.cpu_count() or 1) < 2 or shutil.which("taskset") is None:
        return argv
    return ["taskset", "-c", str(cpu), *argv]
