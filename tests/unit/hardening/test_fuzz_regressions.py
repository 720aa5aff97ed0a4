"""Every input a fuzzer ever crashed on (fuzz/regressions/<target>/<name>) is replayed through the very same
harness function; each must now be handled cleanly. Also a few hundred fixed-seed random inputs per harness,
so the harnesses themselves cannot rot between `make fuzz` runs."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from fuzz.targets import all_targets

REGRESSIONS = Path(__file__).resolve().parents[3] / "fuzz" / "regressions"
FILES = sorted(p for p in REGRESSIONS.glob("*/*") if p.is_file())


def test_there_are_regressions_for_the_bugs_found() -> None:
    assert {p.parent.name for p in FILES} >= {"x509", "rpc", "policy"}


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.name}" for p in FILES])
def test_regression_is_handled(path: Path) -> None:
    all_targets()[path.parent.name](path.read_bytes())


@pytest.mark.parametrize("name", ["token", "x509", "policy", "rpc"])
def test_random_inputs_are_handled(name: str) -> None:
    rng = random.Random(9)
    target = all_targets()[name]
    for _ in range(200):
        target(bytes([rng.randrange(3)]) + rng.randbytes(rng.randrange(300)))
