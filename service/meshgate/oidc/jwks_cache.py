"""`JwksCache`: per-issuer JWKS, background refresh, bounded staleness, rate-limited unknown-kid refetch.

Contract (see docs/oidc.md): refresh every Cache-Control max-age clamped to [refresh_min, refresh_max]
(refresh_default without max-age); a failed fetch never drops the last good keys, it retries after
retry_seconds; keys older than max_stale_seconds deny every token (`jwks_unavailable`), as do keys never
loaded; a successful refresh replaces the set, so removed keys disappear; an unknown kid triggers at most one
refetch per unknown_kid_interval_seconds per issuer, and concurrent callers share one in-flight fetch.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol

from meshgate.clock import monotonic
from meshgate.oidc.fetch import Fetcher, FetchError, UrllibFetcher, resolve_jwks_url
from meshgate.oidc.issuers import IssuerConfig, IssuerKind
from meshgate.oidc.keys import (
    SIGNATURE_USES,
    SPIFFE_BUNDLE_USES,
    JwksError,
    KeySnapshot,
    KeyState,
    VerificationKey,
    parse_jwks,
    verification_key,
)
from meshgate.oidc.settings import OidcSettings

log = logging.getLogger(__name__)


class JwtAuthorities(Protocol):
    """The JWT-SVID signing keys of a trust domain from the SPIFFE Workload API (`identity.jwtbundles`)."""

    def authorities(self, trust_domain: str) -> Mapping[str, object]:
        """Key id -> public key; raises (with a one-line reason) when there is no current bundle."""
        ...


@dataclass(slots=True)
class _IssuerState:
    config: IssuerConfig
    keys: Mapping[str, VerificationKey] | None = None
    fetched_at: float = 0.0  # monotonic time of the last successful fetch
    interval: float = 0.0
    last_forced: float = -math.inf
    inflight: asyncio.Task[bool] | None = None
    last_ok: bool = False
    last_error: str = ""


class JwksCache:
    """Implements `KeySource`. Use `start()` inside the running event loop and `close()` on shutdown."""

    def __init__(
        self,
        issuers: Iterable[IssuerConfig],
        settings: OidcSettings | None = None,
        *,
        fetcher: Fetcher | None = None,
        monotonic_clock: Callable[[], float] = monotonic,
        jwt_authorities: JwtAuthorities | None = None,
    ) -> None:
        self._settings = settings or OidcSettings()
        self._jwt_authorities = jwt_authorities
        self._fetcher = fetcher or UrllibFetcher(
            timeout=self._settings.fetch_timeout_seconds, max_bytes=self._settings.max_jwks_bytes
        )
        self._now = monotonic_clock
        self._states = {cfg.issuer: _IssuerState(cfg) for cfg in issuers}
        self._tasks: list[asyncio.Task[None]] = []

    def snapshot(self, issuer: str) -> KeySnapshot:
        state = self._states.get(issuer)
        if state is None or state.keys is None:
            return KeySnapshot(KeyState.NEVER_LOADED)
        age = self._now() - state.fetched_at
        if age > self._settings.max_stale_seconds:
            return KeySnapshot(KeyState.EXPIRED, state.keys, age)
        return KeySnapshot(KeyState.FRESH if age <= state.interval else KeyState.STALE, state.keys, age)

    def last_error(self, issuer: str) -> str:
        state = self._states.get(issuer)
        return state.last_error if state else "issuer not configured"

    async def refresh(self, issuer: str) -> bool:
        """Fetch now (joining a fetch already in flight). True when the key set was (re)loaded."""
        state = self._states.get(issuer)
        if state is None:
            return False
        if state.inflight is None or state.inflight.done():
            state.inflight = asyncio.create_task(self._fetch(state), name=f"jwks-fetch {issuer}")
        return await asyncio.shield(state.inflight)

    async def refresh_unknown_kid(self, issuer: str) -> bool:
        """A refetch for an unknown kid: joins a fetch in flight, else at most one per interval per issuer."""
        state = self._states.get(issuer)
        if state is None:
            return False
        if state.inflight is not None and not state.inflight.done():
            return await asyncio.shield(state.inflight)
        now = self._now()
        if now - state.last_forced < self._settings.unknown_kid_interval_seconds:
            return False
        state.last_forced = now
        return await self.refresh(issuer)

    async def start(self, *, wait: bool = True) -> None:
        """Begin background refresh. With `wait`, first await one fetch per issuer (each bounded in time)."""
        if self._tasks:
            return
        if wait:
            await asyncio.gather(*(self.refresh(issuer) for issuer in self._states))
        for issuer in self._states:
            loop = self._refresh_loop(issuer, fetch_first=not wait)
            self._tasks.append(asyncio.create_task(loop, name=f"jwks-refresh {issuer}"))

    async def close(self) -> None:
        tasks = self._tasks + [s.inflight for s in self._states.values() if s.inflight is not None]
        self._tasks = []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _refresh_loop(self, issuer: str, *, fetch_first: bool) -> None:
        state = self._states[issuer]
        if fetch_first:
            await self.refresh(issuer)
        while True:  # ends when close() cancels the task
            delay = state.interval if state.last_ok else self._settings.retry_seconds
            await asyncio.sleep(delay)
            await self.refresh(issuer)

    async def _fetch(self, state: _IssuerState) -> bool:
        issuer = state.config.issuer
        try:
            async with asyncio.timeout(2 * self._settings.fetch_timeout_seconds + 1):
                keys, max_age = await self._download(state.config)
        except (FetchError, JwksError, TimeoutError) as exc:
            state.last_ok, state.last_error = False, str(exc) or type(exc).__name__
            log.warning("jwks refresh failed issuer=%s error=%s", issuer, state.last_error)
            return False
        except Exception as exc:  # a broken fetcher must not kill the refresh loop; keys stay as they were
            state.last_ok, state.last_error = False, f"unexpected {type(exc).__name__}"
            log.exception("jwks refresh crashed issuer=%s", issuer)
            return False
        state.keys, state.fetched_at = MappingProxyType(keys), self._now()
        state.interval, state.last_ok, state.last_error = self._interval(max_age), True, ""
        log.info("jwks refreshed issuer=%s kids=%s next_in=%.0fs", issuer, sorted(keys), state.interval)
        return True

    async def _download(self, config: IssuerConfig) -> tuple[dict[str, VerificationKey], float | None]:
        if config.kind is IssuerKind.SPIFFE and config.jwks_url is None and config.discovery_url is None:
            return self._workload_api_keys(config), 0.0  # in memory: re-read every refresh_min_seconds
        if config.jwks_url is not None:
            url = config.jwks_url
        elif config.discovery_url is not None:
            url = await resolve_jwks_url(self._fetcher, config.discovery_url, config.issuer)
        else:
            raise FetchError("issuer has neither jwks_url nor discovery_url")
        result = await self._fetcher.fetch(url)
        uses = SPIFFE_BUNDLE_USES if config.kind is IssuerKind.SPIFFE else SIGNATURE_USES
        return parse_jwks(result.body, uses), result.max_age

    def _workload_api_keys(self, config: IssuerConfig) -> dict[str, VerificationKey]:
        if self._jwt_authorities is None:
            raise FetchError("no SPIFFE Workload API is configured (identity.workload_api) for this issuer")
        try:
            found = self._jwt_authorities.authorities(config.trust_domain)
        except Exception as exc:
            raise FetchError(str(exc) or type(exc).__name__) from None
        keys = {
            kid: key for kid, public in found.items() if (key := verification_key(kid, public)) is not None
        }
        if not keys:
            raise JwksError(f"the JWT bundle of {config.trust_domain} has no usable signature key")
        return keys

    def _interval(self, max_age: float | None) -> float:
        s = self._settings
        wanted = s.refresh_default_seconds if max_age is None else max_age
        return min(max(wanted, s.refresh_min_seconds), s.refresh_max_seconds)
