"""`meshgate.config.fields`: a section field says its default, range and description once, and reading a
key goes by exactly that (the parser states no default or range of its own)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import pytest
from meshgate.config import fields as c
from meshgate.config.reference import keys
from meshgate.config.service import ServiceConfig
from meshgate.errors import ConfigError
from meshgate.oidc.issuers import IssuerConfig


@dataclass(frozen=True)
class Section:
    count: int = c.setting(3, "How many.", low=1, high=5)
    ratio: float = c.setting(0.5, "How much.", low=0, high=1)
    name: str = c.setting("x", "Which.")
    path: Path | None = c.setting(None, "Where.")
    names: tuple[str, ...] = c.setting(("a",), "Which ones.", yaml_default=("b",))


def test_an_absent_key_reads_as_its_default() -> None:
    assert c.read_all(Section, {}, "s", Path("/base")) == {
        "count": 3, "ratio": 0.5, "name": "x", "path": None, "names": ("b",)
    }  # fmt: skip


def test_a_value_outside_its_range_names_the_key_and_the_range() -> None:
    with pytest.raises(ConfigError, match=r"^config_invalid: s\.count: must be an integer in \[1, 5\]$"):
        c.read(Section, {"count": 6}, "s", "count")
    assert c.read(Section, {"path": "p.pem"}, "s", "path", Path("/base")) == Path("/base/p.pem")


def _sections(section: type) -> list[type]:
    found = [section]
    for f in dataclasses.fields(section):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if dataclasses.is_dataclass(default):
            found += _sections(type(default))
    return found


def test_every_number_of_every_section_has_a_range_and_every_key_a_description() -> None:
    for section in [*_sections(ServiceConfig), IssuerConfig]:
        for f in dataclasses.fields(section):
            if f.type in ("int", "float"):
                assert None not in f.metadata["range"], f"{section.__name__}.{f.name} has no range"
    assert all(key.description for key in keys())
