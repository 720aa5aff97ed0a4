"""Fixtures for the policy unit tests: policy folders written into tmp_path; no network."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

WritePolicy = Callable[..., Path]

HEADER = "apiVersion: meshgate.dev/v1\nkind: AccessPolicy\n"


@pytest.fixture
def write_policy(tmp_path: Path) -> WritePolicy:
    """write_policy({"a.yaml": "...yaml..."}, folder="p") writes dedented files and returns the folder."""

    def write(files: dict[str, str], folder: str = "policies") -> Path:
        root = tmp_path / folder
        for name, text in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text).lstrip("\n"), "utf-8")
        return root

    return write


@pytest.fixture
def examples() -> Path:
    return Path(__file__).resolve().parents[3] / "policies" / "examples"
