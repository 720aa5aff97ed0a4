"""`meshgate.heap.limit_arenas`: `meshgate serve` caps glibc's malloc arenas unless the operator set
MALLOC_ARENA_MAX; the call is glibc's `mallopt(M_ARENA_MAX, n)`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from meshgate import heap


class Mallopt:
    def __init__(self, answer: int = 1) -> None:
        self.calls: list[tuple[int, int]] = []
        self.answer = answer

    def __call__(self, option: int, value: int) -> int:
        self.calls.append((option, value))
        return self.answer


def test_the_arenas_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(heap.ENV_ARENA_MAX, raising=False)
    mallopt = Mallopt()
    assert heap.limit_arenas(mallopt=mallopt) is True
    assert mallopt.calls == [(heap.M_ARENA_MAX, heap.SERVICE_ARENAS)]


def test_the_operators_setting_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(heap.ENV_ARENA_MAX, "8")
    mallopt = Mallopt()
    assert heap.limit_arenas(mallopt=mallopt) is False
    assert mallopt.calls == []


def test_a_refused_option_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(heap.ENV_ARENA_MAX, raising=False)
    assert heap.limit_arenas(mallopt=Mallopt(answer=0)) is False


def test_this_libc_takes_the_option() -> None:
    """On glibc (the image and CI) `mallopt` accepts the cap; elsewhere nothing is set. In a process of
    its own: the cap would stay on in this one."""
    if heap._load_mallopt() is None:
        pytest.skip("not glibc")
    env = {"PYTHONPATH": str(Path(heap.__file__).parents[1]), "PATH": "/usr/bin:/bin"}
    probe = "from meshgate import heap; print(heap.limit_arenas())"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.strip() == "True"
