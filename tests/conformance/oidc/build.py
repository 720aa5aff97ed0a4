"""Turn cases.yaml into concrete conformance cases, shared by the in-process runner and the gRPC runner.

`iter_cases(jwks_base)` yields `Case(case_id, issuer_config_mappings, jwks_by_url, token, now, expected)`:

* `issuer_config_mappings`: raw mappings for `meshgate.oidc.parse_issuers` (JWKS URLs under `jwks_base`).
* `jwks_by_url`: per URL, the successive `JwksPhase`s to serve. A runner performs one refresh of every issuer
  per phase index (a URL with fewer phases keeps serving its last one), letting `elapse_seconds` pass on the
  cache's monotonic clock after each phase. `document=None` means the endpoint answers HTTP 503.
* `now`: the wall-clock time for claim checks; `expected`: `Expected(principal, error, kind, attributes)`.

Cache settings for every case are in `SETTINGS` (raw mapping for `parse_oidc_settings`). Cases whose phases
elapse time (`case.needs_time_travel`) need a runner that controls the cache's monotonic clock.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from tests.conformance.oidc.mint import jwks_document, mint, signing_keys

CASES_FILE = Path(__file__).with_name("cases.yaml")
DEFAULT_JWKS_BASE = "http://127.0.0.1:9"
_TIME_CLAIMS = ("exp", "nbf", "iat")
_TYP = "JWT"


@dataclass(frozen=True)
class JwksPhase:
    document: dict[str, Any] | None  # None: the endpoint is down (HTTP 503)
    elapse_seconds: float = 0.0


@dataclass(frozen=True)
class Expected:
    principal: str | None = None
    error: str | None = None
    kind: str | None = None
    attributes: Mapping[str, tuple[str, ...]] | None = None  # None: not asserted


class Case(NamedTuple):
    case_id: str
    issuer_config_mappings: list[dict[str, Any]]
    jwks_by_url: dict[str, tuple[JwksPhase, ...]]
    token: str
    now: datetime
    expected: Expected

    @property
    def needs_time_travel(self) -> bool:
        return any(phase.elapse_seconds for phases in self.jwks_by_url.values() for phase in phases)


@cache
def _table() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(CASES_FILE.read_text(encoding="utf-8"))
    return loaded


def settings() -> dict[str, Any]:
    return dict(_table()["settings"])


def base_time() -> datetime:
    return datetime.fromisoformat(_table()["base_time"])


def iter_cases(jwks_base: str = DEFAULT_JWKS_BASE) -> Iterator[Case]:
    table = _table()
    for raw in table["cases"]:
        yield _build(table, raw, jwks_base)


def _build(table: dict[str, Any], raw: dict[str, Any], jwks_base: str) -> Case:
    profile = raw["issuer"]
    issuers = _issuer_mappings(table, jwks_base, profile, raw.get("issuer_overrides", {}))
    jwks = {cfg["jwks_url"]: _phases(table["jwks"][name], raw.get("jwks")) for name, cfg in issuers.items()}
    now = base_time() + timedelta(seconds=raw.get("now", 0))
    return Case(raw["id"], list(issuers.values()), jwks, _token(table, raw), now, _expected(raw["expect"]))


def _issuer_mappings(
    table: dict[str, Any], jwks_base: str, profile: str, overrides: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    out = {}
    for name, cfg in table["issuers"].items():
        cfg = {**copy.deepcopy(cfg), **(overrides if name == profile else {})}
        cfg["jwks_url"] = cfg["jwks_url"].replace("{jwks_base}", jwks_base.rstrip("/"))
        out[name] = cfg
    return out


def _phases(default_keys: list[str], raw: list[dict[str, Any]] | None) -> tuple[JwksPhase, ...]:
    steps = raw or [{"keys": default_keys}]
    return tuple(
        JwksPhase(
            None if step["keys"] == "outage" else jwks_document(step["keys"]), float(step.get("elapse", 0))
        )
        for step in steps
    )


def _token(table: dict[str, Any], raw: dict[str, Any]) -> str:
    key = signing_keys()[raw["key"]]
    header = raw.get("raw_header") or _merge({"alg": key.alg, "typ": _TYP, "kid": key.kid}, raw.get("header"))
    claims = _merge(copy.deepcopy(table["claims"][raw["issuer"]]), raw.get("claims"))
    if raw.get("mutate") == "oversize":
        claims["pad"] = "x" * 17000
    payload = raw.get("raw_payload") or _absolute_times(claims)
    return _mutate(mint(key, header, payload, signing=raw.get("signing", "normal")), raw.get("mutate"))


def _merge(base: dict[str, Any], overrides: dict[str, Any] | None) -> dict[str, Any]:
    for name, value in (overrides or {}).items():
        if value is None:
            base.pop(name, None)
        else:
            base[name] = value
    return base


def _absolute_times(claims: dict[str, Any]) -> dict[str, Any]:
    epoch = int(base_time().timestamp())
    for name in _TIME_CLAIMS:
        value = claims.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            claims[name] = epoch + value
    return claims


def _mutate(token: str, how: str | None) -> str:
    header, payload, signature = token.split(".")
    mutations = {
        None: lambda: token,
        "oversize": lambda: token,
        "non_ascii": lambda: f"{header}.{payload[:10]}é{payload[10:]}.{signature}",
        "append_segment": lambda: f"{token}.{payload}",
        "drop_signature": lambda: f"{header}.{payload}",
        "pad_signature": lambda: f"{token}==",
        "plus_slash": lambda: f"{header}.{payload}.{signature[:10]}+/{signature[12:]}",
        "noncanonical_signature": lambda: f"{header}.{payload}.{_noncanonical(signature)}",
        "trailing_space": lambda: f"{token} ",
    }
    return mutations[how]()


def _noncanonical(segment: str) -> str:
    """Set unused low bits of the last character: lenient decoders see the same bytes, strict ones refuse."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    if len(segment) % 4 not in (2, 3):
        raise ValueError("segment has no unused bits")
    return segment[:-1] + alphabet[alphabet.index(segment[-1]) | 1]


def _expected(raw: dict[str, Any]) -> Expected:
    attributes = raw.get("attributes")
    return Expected(
        principal=raw.get("principal"),
        error=raw.get("error"),
        kind=raw.get("kind"),
        attributes=None if attributes is None else {k: tuple(v) for k, v in attributes.items()},
    )
