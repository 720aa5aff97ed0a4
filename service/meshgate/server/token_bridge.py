"""Token verification for gRPC worker threads: validation runs in the calling thread; only the JWKS refetch
for an unknown key id is handed to the event loop that owns the key cache, and waited for with a bound.

A refetch that does not finish in time (the call's remaining deadline, at most the configured unknown-kid
wait plus a second) counts as not refetched: the token is rejected, never allowed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging

from meshgate.model import Identity
from meshgate.oidc import TokenAuthenticator

log = logging.getLogger(__name__)
_SLACK_SECONDS = 1.0  # the refetch bounds itself; this only covers handing it over and back


class LoopTokenVerifier:
    """`TokenVerifier` over a `TokenAuthenticator`; `bind` the loop that runs its key cache before use."""

    def __init__(self, tokens: TokenAuthenticator) -> None:
        self._tokens = tokens
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def authenticate(self, token: str, budget: float | None = None) -> Identity:
        return self._tokens.authenticate_sync(token, lambda issuer: self._refetch(issuer, budget))

    def _refetch(self, issuer: str, budget: float | None) -> bool:
        loop = self._loop
        if loop is None or loop.is_closed() or _running_loop() is loop:
            return False  # no loop to ask, or we are on it: waiting for it here would never end
        wait = self._tokens.unknown_kid_wait_seconds + _SLACK_SECONDS
        if budget is not None:
            wait = max(0.0, min(wait, budget))
        future = asyncio.run_coroutine_threadsafe(self._tokens.refetch(issuer), loop)
        try:
            return future.result(timeout=wait)
        except concurrent.futures.TimeoutError:
            future.cancel()  # the shared fetch is shielded: other waiters keep it
            return False
        except Exception:
            log.exception("jwks refetch for %s failed", issuer)
            return False


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
