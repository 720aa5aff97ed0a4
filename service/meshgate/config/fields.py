"""How a configuration section is declared and read, once.

Each section is a frozen dataclass of its component (`server/config.py`, `identity/config.py`,
`oidc/settings.py`, ...). Every field says its default, allowed range and meaning in one place:

    workers: int = setting(8, "Threads answering unary calls.", low=1, high=1024)

`read` takes a field's value from the raw YAML mapping by that metadata (type, default, range), and the
generated reference (`reference.py`) reads the same metadata. Every error names the full key path, e.g.
`oidc.issuers[0].audiences: ...`; unknown keys are errors.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from meshgate.errors import ConfigError

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_NO_DEFAULT: Any = dataclasses.MISSING


def setting(
    default: Any = _NO_DEFAULT,
    description: str = "",
    *,
    low: float | None = None,
    high: float | None = None,
    factory: Any = _NO_DEFAULT,
    yaml_default: object = _NO_DEFAULT,
    required: bool = False,
) -> Any:
    """A config field: its default (or `factory`), its range for numbers, its one-sentence description.
    `yaml_default`: what an absent key means when that differs from the dataclass default (the parser
    fills it in); `required`: the key must be given."""
    metadata = {"description": description, "range": (low, high), "required": required}
    if yaml_default is not _NO_DEFAULT:
        metadata["yaml_default"] = yaml_default
    if factory is not _NO_DEFAULT:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def field_of(section: type, name: str) -> dataclasses.Field[Any]:
    return next(f for f in dataclasses.fields(section) if f.name == name)


def default_of(f: dataclasses.Field[Any]) -> Any:
    """What an absent key means: the YAML default, else the dataclass default (None when there is none)."""
    if "yaml_default" in f.metadata:
        return f.metadata["yaml_default"]
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def names(section: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(section))


def read(section: type, raw: Mapping[str, object], where: str, name: str, base: Path | None = None) -> Any:
    """The value of key `name` of `section`, checked against its field's type, default and range."""
    f = field_of(section, name)
    default = default_of(f)
    low, high = f.metadata["range"]
    kind = f.type
    if kind == "int":
        return get_int(raw, name, where, default, low=low, high=high)
    if kind == "float":
        return get_number(raw, name, where, default, low=low, high=high)
    if kind == "bool":
        return get_bool(raw, name, where, default)
    if kind == "str":
        return get_str(raw, name, where, default)
    if kind == "str | None":
        return get_opt_str(raw, name, where)
    if kind == "tuple[str, ...]":
        return get_str_list(raw, name, where, default=default)
    if kind == "Path | None" and base is not None:
        return get_opt_path(raw, name, where, base)
    raise TypeError(f"{section.__name__}.{name}: no reader for {kind}; read it in the section's parser")


def read_all(
    section: type,
    raw: Mapping[str, object],
    where: str,
    base: Path | None = None,
    *,
    but: Collection[str] = (),
) -> dict[str, Any]:
    """Every key of `section` by `read`, except `but` (those its parser reads itself)."""
    return {name: read(section, raw, where, name, base) for name in names(section) if name not in but}


def reject_unknown(raw: Mapping[str, object], allowed: Collection[str], where: str) -> None:
    for key in raw:
        if key not in allowed:
            raise ConfigError(f"{where}.{key}: unknown key")


def get_str(raw: Mapping[str, object], key: str, where: str, default: str | None = None) -> str:
    value = raw.get(key, default)
    if not isinstance(value, str) or not value or value != value.strip():
        raise ConfigError(f"{where}.{key}: must be a non-empty string without surrounding spaces")
    return value


def get_opt_str(raw: Mapping[str, object], key: str, where: str) -> str | None:
    return None if raw.get(key) is None else get_str(raw, key, where)


def get_str_list(
    raw: Mapping[str, object], key: str, where: str, *, default: tuple[str, ...] = ()
) -> tuple[str, ...]:
    value = raw.get(key, list(default))
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where}.{key}: must be a list of non-empty strings")
    if len(set(value)) != len(value):
        raise ConfigError(f"{where}.{key}: must not contain duplicates")
    return tuple(value)


def get_number(
    raw: Mapping[str, object], key: str, where: str, default: float, *, low: float, high: float
) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ConfigError(f"{where}.{key}: must be a number in [{low}, {high}]")
    return float(value)


def get_int(raw: Mapping[str, object], key: str, where: str, default: int, *, low: int, high: int) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{where}.{key}: must be an integer in [{low}, {high}]")
    return value


def get_bool(raw: Mapping[str, object], key: str, where: str, default: bool) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{where}.{key}: must be true or false")
    return value


def is_loopback_host(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host) in (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))
    except ValueError:
        return False


def fetchable_url_problem(url: str) -> str | None:
    """Why `url` may not be fetched (None when fine): HTTPS required, plain HTTP only to loopback hosts."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return "is not a valid URL"
    if not host or parts.username or parts.password or parts.fragment:
        return "must be an absolute URL with a host and no user info or fragment"
    if parts.scheme == "https" or (parts.scheme == "http" and is_loopback_host(host)):
        return None
    return "must use https (plain http only for 127.0.0.1, localhost, ::1)"


def get_url(raw: Mapping[str, object], key: str, where: str) -> str | None:
    url = get_opt_str(raw, key, where)
    problem = None if url is None else fetchable_url_problem(url)
    if problem:
        raise ConfigError(f"{where}.{key}: {problem}")
    return url


def get_mapping(raw: Mapping[str, object], key: str, where: str) -> Mapping[str, object]:
    """A nested section; absent or null means empty."""
    value = raw.get(key) or {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}.{key}: must be a mapping" if where else f"{key}: must be a mapping")
    return value


def get_opt_path(raw: Mapping[str, object], key: str, where: str, base: Path) -> Path | None:
    """An optional path; relative paths are relative to `base` (the config file's folder)."""
    value = get_opt_str(raw, key, where)
    return None if value is None else base / value
