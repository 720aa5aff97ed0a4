"""Tunables of the OIDC validator, JWKS cache and token cache (the scalar keys of the `oidc` section): each
field's default, range and description, `parse_oidc_settings`, validation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from meshgate.config import fields as c
from meshgate.errors import ConfigError
from meshgate.oidc.delegation import DEFAULT_MAX_DEPTH, MAX_DEPTH_CEILING

_DAY = 86400.0


@dataclass(frozen=True, slots=True)
class OidcSettings:
    max_token_bytes: int = c.setting(
        16384, "Longest token accepted; checked before decoding.", low=512, high=1 << 20
    )
    refresh_default_seconds: float = c.setting(
        300.0, "JWKS refresh interval when the response has no Cache-Control max-age.", low=0.01, high=_DAY
    )
    refresh_min_seconds: float = c.setting(
        60.0, "Lower clamp of the JWKS refresh interval.", low=0.01, high=_DAY
    )
    refresh_max_seconds: float = c.setting(
        3600.0, "Upper clamp of the JWKS refresh interval.", low=0.01, high=_DAY
    )
    retry_seconds: float = c.setting(30.0, "Next JWKS fetch after a failed one.", low=0.01, high=_DAY)
    max_stale_seconds: float = c.setting(
        14400.0,
        "Keys older than this deny every token and make the instance not ready.",
        low=0.01,
        high=30 * _DAY,
    )
    unknown_kid_interval_seconds: float = c.setting(
        30.0, "At most one refetch per issuer per interval for an unknown `kid`.", low=0.0, high=_DAY
    )
    unknown_kid_wait_seconds: float = c.setting(
        5.0, "How long a request waits for that refetch.", low=0.0, high=60.0
    )
    fetch_timeout_seconds: float = c.setting(
        5.0, "Timeout of one JWKS or discovery fetch.", low=0.1, high=60.0
    )
    max_jwks_bytes: int = c.setting(65536, "Largest JWKS document accepted.", low=1024, high=1 << 22)
    token_cache_size: int = c.setting(
        10000, "Verified tokens kept (LRU, keyed by hash); 0 disables the cache.", low=0, high=1_000_000
    )
    token_cache_ttl_seconds: float = c.setting(
        60.0, "A cached verification lives min(exp, this).", low=0.0, high=_DAY
    )
    max_delegation_depth: int = c.setting(
        DEFAULT_MAX_DEPTH,
        "Most actors a delegated token (RFC 8693 `act`) may name, nested ones included; 0 refuses every "
        "delegated token (docs/oidc.md).",
        low=0,
        high=MAX_DEPTH_CEILING,
    )

    def __post_init__(self) -> None:
        if not self.refresh_min_seconds <= self.refresh_default_seconds <= self.refresh_max_seconds:
            raise ConfigError(
                "oidc.refresh_default_seconds: must lie in [refresh_min_seconds, refresh_max_seconds]"
            )
        if self.max_stale_seconds <= self.refresh_max_seconds:
            raise ConfigError("oidc.max_stale_seconds: must be greater than refresh_max_seconds")


def parse_oidc_settings(raw: Mapping[str, object], where: str = "oidc") -> OidcSettings:
    """Read the scalar settings (all optional). Unknown keys are errors."""
    c.reject_unknown(raw, c.names(OidcSettings), where)
    return OidcSettings(**c.read_all(OidcSettings, raw, where))
