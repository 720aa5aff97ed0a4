"""The generated configuration reference: complete, described, accepted by the parser, and committed fresh."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

from meshgate.cli import main
from meshgate.config.reference import DESCRIPTIONS, defaults, keys, render_markdown
from meshgate.config.service import ServiceConfig, parse_config

ROOT = Path(__file__).resolve().parents[3]
PAGE = ROOT / "docs" / "configuration.md"


def test_every_key_is_described_and_every_description_is_a_key() -> None:
    paths = [k.path for k in keys()]
    assert len(paths) == len(set(paths))
    assert set(paths) == set(DESCRIPTIONS), "describe new keys where they are declared (fields.setting)"
    assert all(k.description and k.type for k in keys())


def test_the_committed_page_is_fresh() -> None:
    assert PAGE.read_text() == render_markdown(), "run: meshgate config-reference --out docs/configuration.md"


def _plain(value: object) -> object:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple):
        return list(value)
    return str(value) if isinstance(value, Path) else value


def test_every_documented_default_is_accepted_and_means_the_default(tmp_path: Path) -> None:
    raw: dict[str, dict[str, object]] = {}
    for path, value in defaults().items():
        if value is None or value == "" or path == "policy.dir":
            continue  # unset keys have no YAML spelling; policy.dir is relative to the file
        section, *middle, key = path.split(".")
        target = raw.setdefault(section, {})
        for name in middle:
            target = target.setdefault(name, {})  # type: ignore[assignment]
        target[key] = _plain(value)
    config = parse_config(raw, tmp_path)
    assert config == ServiceConfig(policy=config.policy)


def test_the_command_prints_the_page(capsys: object) -> None:
    assert main(["config-reference"]) == 0
    assert capsys.readouterr().out == render_markdown()  # type: ignore[attr-defined]
