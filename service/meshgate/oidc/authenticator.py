"""Facade over `TokenValidator` + `JwksCache`: unknown-kid refetch and a cache of verified tokens.

Synchronous, called from gRPC worker threads; an unknown key id may wait for a JWKS refetch, at most as long
as the caller can (`budget`, its remaining deadline) and at most `oidc.unknown_kid_wait_seconds`."""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Sequence

from meshgate.clock import Clock, monotonic
from meshgate.errors import AuthenticationError
from meshgate.model import Identity
from meshgate.oidc.compact import parse_compact
from meshgate.oidc.fetch import Fetcher
from meshgate.oidc.issuers import IssuerConfig
from meshgate.oidc.jwks_cache import JwksCache, JwtAuthorities
from meshgate.oidc.reasons import UnknownKidError
from meshgate.oidc.settings import OidcSettings
from meshgate.oidc.token_cache import TokenCache
from meshgate.oidc.validator import KeySet, TokenValidator


class TokenAuthenticator:
    """Verified-token cache in front of the validator; an unknown key id may refetch the issuer's JWKS."""

    def __init__(
        self, validator: TokenValidator, cache: JwksCache, clock: Clock, settings: OidcSettings
    ) -> None:
        self._validator = validator
        self._cache = cache
        self._settings = settings
        self._tokens = TokenCache(settings.token_cache_size, settings.token_cache_ttl_seconds, clock)
        self._verified_with: dict[str, object] = {}  # issuer -> key set the cached tokens were verified with
        self._lock = threading.Lock()  # makes "key set replaced: clear, then remember" one step

    @classmethod
    def from_config(
        cls,
        issuers: Sequence[IssuerConfig],
        settings: OidcSettings,
        clock: Clock,
        *,
        fetcher: Fetcher | None = None,
        monotonic_clock: Callable[[], float] = monotonic,
        superusers: Collection[str] = (),
        jwt_authorities: JwtAuthorities | None = None,
    ) -> TokenAuthenticator:
        cache = JwksCache(
            issuers,
            settings,
            fetcher=fetcher,
            monotonic_clock=monotonic_clock,
            jwt_authorities=jwt_authorities,
        )
        validator = _validator(issuers, cache, clock, settings, superusers)
        return cls(validator, cache, clock, settings)

    @property
    def keys(self) -> JwksCache:
        return self._cache

    @property
    def tokens(self) -> TokenCache:
        return self._tokens

    def start(self, *, wait: bool = True) -> None:
        self._cache.start(wait=wait)

    def close(self) -> None:
        self._cache.close()

    def authenticate(self, token: str, budget: float | None = None) -> Identity:
        """The verified identity, or `AuthenticationError` with a stable code. Failures are never cached.

        An unknown key id refetches the issuer's keys (rate limited) and waits for them at most
        unknown_kid_wait_seconds and at most `budget` seconds; not refetched in time, the token is refused."""
        hit = self._cached(token)
        if hit is not None:
            return hit
        try:
            identity, keys = self._validator.validate_keyed(token)
        except UnknownKidError as err:
            if not self._refetch(err.issuer, budget):
                raise
            identity, keys = self._validator.validate_keyed(token)
        self._store(token, identity, keys)
        return identity

    def _refetch(self, issuer: str, budget: float | None) -> bool:
        wait = self._settings.unknown_kid_wait_seconds
        if budget is not None:
            wait = max(0.0, min(wait, budget))
        return self._cache.refresh_unknown_kid(issuer, timeout=wait)

    def _cached(self, token: str) -> Identity | None:
        if len(token) > self._settings.max_token_bytes:
            return None
        hit = self._tokens.entry(token)
        return hit.identity() if hit is not None and self._still_backed(hit.shape.issuer) else None

    def _still_backed(self, issuer: str) -> bool:
        """A cached verification counts only while its key set is still the issuer's, and still usable."""
        return self._cache.still_current(issuer, self._verified_with.get(issuer))

    def _store(self, token: str, identity: Identity, keys: KeySet) -> None:
        if len(token) > self._settings.max_token_bytes:
            return
        with self._lock:
            if self._cache.snapshot(identity.issuer).keys is not keys:
                return  # replaced while this token was verified: do not tag it with the new set
            if self._verified_with.get(identity.issuer) is not keys:
                self._tokens.clear()  # entries verified with a key set that has since been replaced
                self._verified_with[identity.issuer] = keys
            self._tokens.put(token, identity)


def authenticate_token_once(
    config_issuers: Sequence[IssuerConfig],
    token: str,
    clock: Clock,
    *,
    settings: OidcSettings | None = None,
    fetcher: Fetcher | None = None,
    superusers: Collection[str] = (),
) -> Identity:
    """One-shot validation (the CLI): fetch the keys of the token's issuer once, then validate."""
    settings = settings or OidcSettings()
    cache = JwksCache(config_issuers, settings, fetcher=fetcher)
    validator = _validator(config_issuers, cache, clock, settings, superusers)
    issuer = _peek_issuer(token, settings.max_token_bytes)
    try:
        if issuer is not None:
            cache.refresh(issuer)
        return validator.validate(token)
    finally:
        cache.close()


def _validator(
    issuers: Sequence[IssuerConfig],
    keys: JwksCache,
    clock: Clock,
    settings: OidcSettings,
    superusers: Collection[str],
) -> TokenValidator:
    return TokenValidator(
        issuers,
        keys,
        clock,
        max_token_bytes=settings.max_token_bytes,
        superusers=superusers,
        max_delegation_depth=settings.max_delegation_depth,
    )


def _peek_issuer(token: str, max_bytes: int) -> str | None:
    try:
        iss = parse_compact(token, max_bytes).payload.get("iss")
    except AuthenticationError:  # the validator reports the precise reason
        return None
    return iss if isinstance(iss, str) else None
