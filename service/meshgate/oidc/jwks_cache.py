"""`JwksCache`: per-issuer JWKS, background refresh, bounded staleness, rate-limited unknown-kid refetch.

Contract (see docs/oidc.md): refresh every Cache-Control max-age clamped to [refresh_min, refresh_max]
(refresh_default without max-age); a failed fetch never drops the last good keys, it retries after
retry_seconds; keys older than max_stale_seconds deny every token (`jwks_unavailable`), as do keys never
loaded; a successful refresh replaces the set, so removed keys disappear; an unknown kid triggers at most one
refetch per unknown_kid_interval_seconds per issuer, and concurrent callers share one in-flight fetch.

Threads, like the gRPC server that reads it: one refresh thread per issuer (`start`, `close`), and the fetches
themselves on a small pool of their own, so that a caller waits for one at most as long as it can
(`refresh(issuer, timeout=...)`) while others keep sharing it. A fetch is bounded by the fetcher's timeouts.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FetchStillRunning
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
    inflight: Future[bool] | None = None
    last_ok: bool = False
    last_error: str = ""


class JwksCache:
    """Implements `KeySource`. `start()` begins the background refresh, `close()` ends it."""

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
        self._lock = threading.Lock()  # around starting a fetch and the unknown-kid rate limit
        self._fetches = ThreadPoolExecutor(max(1, len(self._states)), thread_name_prefix="meshgate-jwks")
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        # How long the refresh thread and `start` wait for one fetch: discovery and JWKS, each bounded by
        # fetch_timeout_seconds, and a second of slack.
        self._fetch_bound = 2 * self._settings.fetch_timeout_seconds + 1

    def snapshot(self, issuer: str) -> KeySnapshot:
        state = self._states.get(issuer)
        if state is None or state.keys is None:
            return KeySnapshot(KeyState.NEVER_LOADED)
        age = self._now() - state.fetched_at
        if age > self._settings.max_stale_seconds:
            return KeySnapshot(KeyState.EXPIRED, state.keys, age)
        return KeySnapshot(KeyState.FRESH if age <= state.interval else KeyState.STALE, state.keys, age)

    def still_current(self, issuer: str, keys: object) -> bool:
        """Whether `keys` is still the issuer's key set and still usable (`snapshot(issuer).usable and
        snapshot(issuer).keys is keys`), without making a snapshot: checked on every cached token."""
        state = self._states.get(issuer)
        if state is None or state.keys is None or state.keys is not keys:
            return False
        return self._now() - state.fetched_at <= self._settings.max_stale_seconds

    def last_error(self, issuer: str) -> str:
        state = self._states.get(issuer)
        return state.last_error if state else "issuer not configured"

    def refresh(self, issuer: str, timeout: float | None = None) -> bool:
        """Fetch now (joining a fetch already in flight). True when the key set was (re)loaded; False also
        when `timeout` seconds passed first (the fetch goes on, for whoever asks next)."""
        state = self._states.get(issuer)
        if state is None:
            return False
        with self._lock:
            fetch = self._fetch_of(state)
        return _outcome(fetch, timeout)

    def refresh_unknown_kid(self, issuer: str, timeout: float | None = None) -> bool:
        """A refetch for an unknown kid: joins a fetch in flight, else at most one per interval per issuer."""
        state = self._states.get(issuer)
        if state is None:
            return False
        with self._lock:
            if state.inflight is None or state.inflight.done():
                now = self._now()
                if now - state.last_forced < self._settings.unknown_kid_interval_seconds:
                    return False
                state.last_forced = now
            fetch = self._fetch_of(state)
        return _outcome(fetch, timeout)

    def start(self, *, wait: bool = True) -> None:
        """Begin background refresh. With `wait`, first one fetch per issuer (each bounded in time)."""
        if self._threads:
            return
        if wait:
            with self._lock:
                fetches = [self._fetch_of(state) for state in self._states.values()]
            for fetch in fetches:
                _outcome(fetch, self._fetch_bound)
        for issuer in self._states:
            thread = threading.Thread(
                target=self._refresh_loop, args=(issuer, not wait), name=f"jwks-refresh {issuer}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def close(self) -> None:
        """End the refresh threads; a fetch in flight is not waited for (its own timeouts end it)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=1.0)
        self._threads = []
        self._fetches.shutdown(wait=False, cancel_futures=True)

    def _fetch_of(self, state: _IssuerState) -> Future[bool]:
        """The fetch in flight for `state`, or a new one (with the lock held)."""
        if state.inflight is None or state.inflight.done():
            try:
                state.inflight = self._fetches.submit(self._fetch, state)
            except RuntimeError:  # closed: no more fetches; the keys stay as they are
                closed: Future[bool] = Future()
                closed.set_result(False)
                return closed
        return state.inflight

    def _refresh_loop(self, issuer: str, fetch_first: bool) -> None:
        state = self._states[issuer]
        if fetch_first:
            self.refresh(issuer, self._fetch_bound)
        while True:  # until close()
            delay = state.interval if state.last_ok else self._settings.retry_seconds
            if self._stop.wait(delay):
                return
            self.refresh(issuer, self._fetch_bound)

    def _fetch(self, state: _IssuerState) -> bool:
        issuer = state.config.issuer
        try:
            keys, max_age = self._download(state.config)
        except (FetchError, JwksError) as exc:
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

    def _download(self, config: IssuerConfig) -> tuple[dict[str, VerificationKey], float | None]:
        if config.kind is IssuerKind.SPIFFE and config.jwks_url is None and config.discovery_url is None:
            return self._workload_api_keys(config), 0.0  # in memory: re-read every refresh_min_seconds
        if config.jwks_url is not None:
            url = config.jwks_url
        elif config.discovery_url is not None:
            url = resolve_jwks_url(self._fetcher, config.discovery_url, config.issuer)
        else:
            raise FetchError("issuer has neither jwks_url nor discovery_url")
        result = self._fetcher.fetch(url)
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


def _outcome(fetch: Future[bool], timeout: float | None) -> bool:
    """The fetch's result, or False when `timeout` passed first or the cache closed."""
    try:
        return fetch.result(timeout)
    except (FetchStillRunning, CancelledError):
        return False
