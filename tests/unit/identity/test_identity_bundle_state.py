"""BundleState, the one home of "keep the last good bundles" (files, Workload API X.509 and JWT bundles):
a new generation only when a digest changed, failures and partial updates keep what was good, and the
status says when the source last succeeded and why it failed since."""

from __future__ import annotations

import threading

from meshgate.clock import FixedClock
from meshgate.identity.bundles import BundleState, ReloadStatus

from .helpers import NOW


def _state(clock: FixedClock, **first: str) -> BundleState[str]:
    return BundleState(str.lower, clock=clock, first=first or None, waiting="nothing yet")


def test_waits_for_the_first_set_with_the_waiting_reason(clock: FixedClock) -> None:
    state = _state(clock)
    assert state.status == ReloadStatus(0, False, None, "nothing yet")
    assert (dict(state.bundles), state.arrived(), state.wait_first(0)) == ({}, False, False)
    assert state.update({"a.org": "K1"}) == ReloadStatus(1, True, NOW, None)
    assert state.arrived() and state.wait_first(0)


def test_a_first_set_at_construction_is_generation_0_and_clean(clock: FixedClock) -> None:
    state = _state(clock, **{"a.org": "K1"})
    assert state.status == ReloadStatus(0, True, NOW, None)
    assert state.arrived() and dict(state.bundles) == {"a.org": "K1"}


def test_the_generation_moves_only_when_a_digest_changes(clock: FixedClock) -> None:
    state = _state(clock, **{"a.org": "K1"})
    assert state.update({"a.org": "k1"}) == ReloadStatus(0, False, NOW, None)  # same digest
    assert state.bundles["a.org"] == "k1", "the newest set serves even when no digest moved"
    assert state.update({"a.org": "K2"}).generation == 1
    assert state.update({"a.org": "K2", "b.org": "K3"}).generation == 2  # a trust domain arrived
    assert state.update({"b.org": "K3"}).generation == 3  # and left with the next whole set
    assert dict(state.bundles) == {"b.org": "K3"}


def test_a_failure_keeps_the_bundles_and_the_last_success(clock: FixedClock) -> None:
    state = _state(clock, **{"a.org": "K1"})
    clock.advance(30)
    assert state.fail("agent unreachable") == ReloadStatus(0, False, NOW, "agent unreachable")
    assert dict(state.bundles) == {"a.org": "K1"}
    assert state.update({"a.org": "K1"}).last_error is None, "the next good update clears the error"


def test_a_partial_update_keeps_the_failed_trust_domains_last_good(clock: FixedClock) -> None:
    state = _state(clock, **{"a.org": "K1", "b.org": "K2"})
    clock.advance(60)
    status = state.update({"b.org": "K3"}, error="a.org: cannot load", kept=["a.org", "b.org"])
    assert status == ReloadStatus(1, True, NOW, "a.org: cannot load")  # last_success: the full success
    assert dict(state.bundles) == {"a.org": "K1", "b.org": "K3"}


def test_readers_see_the_old_set_or_the_new_one_never_a_mix(clock: FixedClock) -> None:
    state = _state(clock, **{"a.org": "X0", "b.org": "X0"})
    seen: set[tuple[str, ...]] = set()
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            current = state.bundles
            seen.add(tuple(current[td] for td in ("a.org", "b.org")))

    reader = threading.Thread(target=read)
    reader.start()
    for n in range(1, 300):
        state.update({"a.org": f"X{n}", "b.org": f"X{n}"})
    stop.set()
    reader.join()
    assert all(a == b for a, b in seen), f"mixed sets seen: {[s for s in seen if s[0] != s[1]]}"
