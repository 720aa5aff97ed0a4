"""LoopTokenVerifier: tokens are validated in the calling (worker) thread; only an unknown kid's JWKS refetch
goes to the loop that owns the key cache, bounded by the caller's budget; a refetch that does not come back
in time, or that cannot be asked for, rejects the token (never allows it)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine, Iterator
from typing import Any

import pytest
from meshgate.errors import AuthenticationError
from meshgate.server.token_bridge import LoopTokenVerifier

from tests.conformance.oidc.mint import jwks_document
from tests.unit.oidc.test_oidc_authenticator import ISS, JWKS, Harness, _token


class Loop:
    """An event loop in a thread, as `meshgate serve` runs the key cache beside the gRPC workers."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.started: list[Harness] = []

    def start(self, harness: Harness) -> None:
        self.run(harness.auth.start())
        self.started.append(harness)

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)


@pytest.fixture
def loop() -> Iterator[Loop]:
    running = Loop()
    yield running
    for harness in running.started:
        running.run(harness.auth.close())
    running.loop.call_soon_threadsafe(running.loop.stop)
    running.thread.join(5)
    running.loop.close()


def _bridge(loop: Loop, harness: Harness) -> LoopTokenVerifier:
    loop.start(harness)
    bridge = LoopTokenVerifier(harness.auth)
    bridge.bind(loop.loop)
    return bridge


def _rejected(bridge: LoopTokenVerifier, token: str, budget: float | None = None) -> str:
    with pytest.raises(AuthenticationError) as info:
        bridge.authenticate(token, budget)
    return info.value.code


def test_a_known_key_is_validated_in_the_calling_thread(loop: Loop) -> None:
    harness = Harness(["rsa1"])
    bridge = _bridge(loop, harness)
    assert bridge.authenticate(_token("rsa1")).principal == f"oidc:{ISS}#alice"
    assert harness.fetcher.calls.count(JWKS) == 1  # the start-up fetch only


def test_an_unknown_kid_is_refetched_on_the_loop_then_validated(loop: Loop) -> None:
    harness = Harness(["rsa1"])
    bridge = _bridge(loop, harness)
    harness.fetcher.documents[JWKS] = jwks_document(["rsa1", "rsa2"])  # the IdP rotated
    assert bridge.authenticate(_token("rsa2"), budget=5.0).principal == f"oidc:{ISS}#alice"
    assert harness.fetcher.calls.count(JWKS) == 2


def test_a_refetch_slower_than_the_budget_rejects_the_token_in_time(loop: Loop) -> None:
    harness = Harness(["rsa1"])
    bridge = _bridge(loop, harness)
    harness.fetcher.documents[JWKS] = jwks_document(["rsa1", "rsa2"])
    harness.fetcher.gate = asyncio.Event()  # the IdP hangs
    started = time.monotonic()
    assert _rejected(bridge, _token("rsa2"), budget=0.2) == "unknown_kid"
    assert time.monotonic() - started < 1.0
    loop.loop.call_soon_threadsafe(harness.fetcher.gate.set)


def test_without_a_loop_or_on_the_loop_itself_an_unknown_kid_is_rejected(loop: Loop) -> None:
    harness = Harness(["rsa1"])
    loop.start(harness)
    unbound = LoopTokenVerifier(harness.auth)
    assert _rejected(unbound, _token("rsa2")) == "unknown_kid"
    bridge = _bridge(loop, Harness(["rsa1"]))

    async def on_the_loop() -> str:  # waiting here for the loop would never end: refused at once
        return _rejected(bridge, _token("rsa2"), budget=5.0)

    assert loop.run(on_the_loop()) == "unknown_kid"
