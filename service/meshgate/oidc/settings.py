"""Tunables of the OIDC validator, JWKS cache and token cache: defaults, `parse_oidc_settings`, validation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from meshgate import configparse as p
from meshgate.errors import ConfigError
from meshgate.oidc.delegation import DEFAULT_MAX_DEPTH, MAX_DEPTH_CEILING

_DAY = 86400.0


@dataclass(frozen=True, slots=True)
class OidcSettings:
    max_token_bytes: int = 16384  # checked before any decoding
    refresh_default_seconds: float = 300.0  # JWKS refresh interval when the response has no max-age
    refresh_min_seconds: float = 60.0  # Cache-Control max-age is clamped into [min, max]
    refresh_max_seconds: float = 3600.0
    retry_seconds: float = 30.0  # next attempt after a failed refresh
    max_stale_seconds: float = 14400.0  # keys older than this (since the last good fetch) deny everything
    unknown_kid_interval_seconds: float = 30.0  # at most one unknown-kid refetch per issuer per interval
    unknown_kid_wait_seconds: float = 5.0  # how long a request waits for that refetch
    fetch_timeout_seconds: float = 5.0
    max_jwks_bytes: int = 65536
    token_cache_size: int = 10000  # verified tokens kept (LRU); 0 disables the cache
    token_cache_ttl_seconds: float = 60.0  # a cached verification lives min(exp, this)
    max_delegation_depth: int = DEFAULT_MAX_DEPTH  # most actors a delegated token (`act`) may name; 0: none

    def __post_init__(self) -> None:
        if not self.refresh_min_seconds <= self.refresh_default_seconds <= self.refresh_max_seconds:
            raise ConfigError(
                "oidc.refresh_default_seconds: must lie in [refresh_min_seconds, refresh_max_seconds]"
            )
        if self.max_stale_seconds <= self.refresh_max_seconds:
            raise ConfigError("oidc.max_stale_seconds: must be greater than refresh_max_seconds")


_SECONDS = {
    "refresh_default_seconds": (0.01, _DAY),
    "refresh_min_seconds": (0.01, _DAY),
    "refresh_max_seconds": (0.01, _DAY),
    "retry_seconds": (0.01, _DAY),
    "max_stale_seconds": (0.01, 30 * _DAY),
    "unknown_kid_interval_seconds": (0.0, _DAY),
    "unknown_kid_wait_seconds": (0.0, 60.0),
    "fetch_timeout_seconds": (0.1, 60.0),
    "token_cache_ttl_seconds": (0.0, _DAY),
}
_INTS = {
    "max_token_bytes": (512, 1 << 20),
    "max_jwks_bytes": (1024, 1 << 22),
    "token_cache_size": (0, 1_000_000),
    "max_delegation_depth": (0, MAX_DEPTH_CEILING),
}


def parse_oidc_settings(raw: Mapping[str, object], where: str = "oidc") -> OidcSettings:
    """Read the scalar settings (all optional). Unknown keys are errors."""
    p.reject_unknown(raw, (*_SECONDS, *_INTS), where)
    defaults = OidcSettings()
    values: dict[str, float | int] = {}
    for key, (low, high) in _SECONDS.items():
        values[key] = p.get_number(raw, key, where, getattr(defaults, key), low=low, high=high)
    for key, (ilow, ihigh) in _INTS.items():
        values[key] = p.get_int(raw, key, where, getattr(defaults, key), low=ilow, high=ihigh)
    return OidcSettings(**values)  # type: ignore[arg-type]
