"""PolicyStore swaps and PolicyReloader: bad revisions kept out, atomic swaps under load, watching."""

from __future__ import annotations

import gc
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import HEADER, WritePolicy
from meshgate import heap
from meshgate.clock import FixedClock
from meshgate.errors import PolicyError
from meshgate.model import AccessRequest, Resource
from meshgate.policy import PolicySnapshot, PolicyStore, load_policy
from meshgate.policy.reloader import PolicyReloader

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def policy(topic: str) -> str:
    return (
        HEADER
        + f"""\
metadata: {{name: p}}
rules:
  - name: r
    effect: allow
    subjects: [{{role: app}}]
    actions: [produce]
    resources: ["persistent://a/b/{topic}"]
"""
    )


def suite(topic: str) -> str:
    return f"""\
apiVersion: meshgate.dev/v1
kind: PolicyTestSuite
metadata: {{name: s}}
tests:
  - name: app-produces
    principal: app
    action: topic.produce
    resource: persistent://a/b/{topic}
    expect: allow
"""


def produce(topic: str) -> AccessRequest:
    return AccessRequest("app", "topic.produce", Resource(topic=f"persistent://a/b/{topic}"))


def test_store_before_first_load_is_not_ready() -> None:
    store = PolicyStore()
    assert not store.ready and store.get() is None
    try:
        store.current()
    except PolicyError as exc:
        assert exc.code == "policy_unavailable"
    else:
        raise AssertionError("expected PolicyError")


def test_store_swap_notifies_listeners_and_unsubscribes(write_policy: WritePolicy) -> None:
    store = PolicyStore(clock=FixedClock(NOW))
    seen: list[str] = []

    def broken(_: PolicySnapshot) -> None:
        raise RuntimeError("listener bug")

    store.subscribe(broken)
    unsubscribe = store.subscribe(lambda snap: seen.append(snap.revision))
    first = load_policy(write_policy({"p.yaml": policy("x")}))
    store.swap(first)
    unsubscribe()
    store.swap(load_policy(write_policy({"p.yaml": policy("y")})))
    assert seen == [first.revision]
    assert store.activated_at == NOW and store.ready


def test_snapshots_hold_no_reference_cycles(write_policy: WritePolicy) -> None:
    """The store freezes the heap on every swap; a replaced snapshot must then go by reference counting."""
    folder = write_policy({"p.yaml": policy("x")})
    gc.collect()
    gc.disable()
    try:
        snapshot = load_policy(folder)
        snapshot.decide(produce("x"))
        del snapshot
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_a_reload_gives_the_free_c_heap_back_before_the_swap(
    write_policy: WritePolicy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A compile frees the files' texts and its garbage; the reloader hands their pages back (glibc)
    while the serving snapshot still serves, then swaps."""
    store = PolicyStore(clock=FixedClock(NOW))
    trimmed: list[tuple[int, object]] = []
    monkeypatch.setattr(heap, "_malloc_trim", lambda pad: trimmed.append((pad, store.get())) or 1)
    reloader = PolicyReloader(write_policy({"p.yaml": policy("x")}), store, clock=FixedClock(NOW))
    try:
        assert reloader.reload_now()
    finally:
        gc.unfreeze()
    assert trimmed == [(0, None)]  # before the first snapshot was swapped in
    monkeypatch.setattr(heap, "_malloc_trim", None)  # not glibc: nothing to call, reloads work
    heap.return_free_heap()


def test_swap_moves_live_objects_out_of_the_collector(write_policy: WritePolicy) -> None:
    store = PolicyStore(clock=FixedClock(NOW))
    try:
        store.swap(load_policy(write_policy({"p.yaml": policy("x")})))
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_reloader_keeps_last_good_revision(write_policy: WritePolicy) -> None:
    folder = write_policy({"p.yaml": policy("x"), "p_test.yaml": suite("x")})
    store = PolicyStore()
    reloader = PolicyReloader(folder, store, clock=FixedClock(NOW))
    assert reloader.reload_now() is True
    good = store.current()
    assert reloader.status.revision == good.revision and reloader.status.tests_passed == 1

    (folder / "p.yaml").write_text(policy("x").replace("effect: allow", "effect: maybe"))
    assert reloader.reload_now() is False
    assert store.current() is good
    status = reloader.status
    assert status.failures == 1 and "p.yaml:6: rules.0.effect: 'maybe' is not one of" in status.last_error
    assert status.failed_revision.startswith("sha256:") and status.revision == good.revision

    assert reloader.reload_now() is False  # the same bad content is not retried or counted twice
    assert reloader.status.failures == 1


def test_reloader_refuses_revision_whose_tests_fail(write_policy: WritePolicy) -> None:
    folder = write_policy({"p.yaml": policy("x"), "p_test.yaml": suite("x")})
    store = PolicyStore()
    reloader = PolicyReloader(folder, store)
    reloader.reload_now()
    (folder / "p.yaml").write_text(policy("y"))  # compiles, but breaks the promise in p_test.yaml
    assert reloader.reload_now() is False
    assert store.current().decide(produce("x")).allowed
    assert reloader.status.last_error.startswith("1 policy test(s) failed in revision sha256:")
    assert "p_test.yaml:5: s/app-produces: expected allow" in reloader.status.last_error

    (folder / "p_test.yaml").write_text(suite("y"))  # fixed: now it goes in
    assert reloader.reload_now() is True
    assert store.current().decide(produce("y")).allowed
    assert reloader.status.last_error == "" and reloader.status.failures == 1


def test_unchanged_content_is_not_swapped_again(write_policy: WritePolicy) -> None:
    folder = write_policy({"p.yaml": policy("x")})
    store = PolicyStore()
    swaps: list[str] = []
    store.subscribe(lambda s: swaps.append(s.revision))
    reloader = PolicyReloader(folder, store)
    assert reloader.reload_now() and not reloader.reload_now()
    os.utime(folder / "p.yaml")
    assert not reloader.reload_now()
    assert len(swaps) == 1


def test_an_uncommitted_change_is_swapped_in_under_a_new_revision(write_policy: WritePolicy) -> None:
    """HEAD stays put (a hot fix, a ConfigMap below a checkout): the revision must move with the content,
    and come back when the content does, so the broker plugin drops exactly the stale answers (#16)."""
    sha = "3cc4291" + "0" * 33
    folder = write_policy({"p.yaml": policy("x"), "../.git/HEAD": f"{sha}\n"})
    store = PolicyStore()
    swaps: list[PolicySnapshot] = []
    store.subscribe(swaps.append)
    reloader = PolicyReloader(folder, store)
    assert reloader.reload_now()
    (folder / "p.yaml").write_text(policy("y"))
    assert reloader.reload_now()
    (folder / "p.yaml").write_text(policy("x"))
    assert reloader.reload_now()
    first, second, third = (snapshot.revision for snapshot in swaps)
    assert second != first and third == first
    assert {snapshot.commit for snapshot in swaps} == {sha} and reloader.status.commit == sha
    (folder / "p.yaml").write_text(policy("z").replace("effect: allow", "effect: maybe"))
    assert not reloader.reload_now()
    assert reloader.status.failed_commit == sha and reloader.status.failed_revision not in (first, second)


def test_concurrent_decisions_see_one_whole_revision(write_policy: WritePolicy) -> None:
    """Readers decide while the store flips between two revisions; each answer matches its snapshot."""
    snaps = [load_policy(write_policy({"p.yaml": policy(t)}, folder=t)) for t in ("x", "y")]
    store = PolicyStore(snaps[0])
    stop = threading.Event()
    problems: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            snap = store.current()
            x, y = snap.decide(produce("x")), snap.decide(produce("y"))
            expected = (snap is snaps[0], snap is snaps[1])
            if (x.allowed, y.allowed) != expected or x.revision != y.revision != snap.revision:
                problems.append(f"{snap.revision}: {x.allowed}, {y.allowed}")

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    for i in range(2000):
        store.swap(snaps[i % 2])
    stop.set()
    for thread in threads:
        thread.join()
    assert problems == []


def test_run_watches_and_swaps_a_symlinked_folder(tmp_path: Path) -> None:
    """git-sync style: the policy path is a symlink that is flipped to a new directory."""
    for name, topic in (("rev1", "x"), ("rev2", "y")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "p.yaml").write_text(policy(topic))
    link = tmp_path / "policies"
    os.symlink(tmp_path / "rev1", link)
    store = PolicyStore()
    reloader = PolicyReloader(link, store, poll_interval=0.2, debounce_ms=50)
    swapped = threading.Event()
    store.subscribe(lambda snap: swapped.set() if snap.decide(produce("y")).allowed else None)

    reloader.start()
    deadline = time.monotonic() + 10
    while not store.ready and time.monotonic() < deadline:
        time.sleep(0.02)
    assert store.current().decide(produce("x")).allowed
    os.symlink(tmp_path / "rev2", tmp_path / "tmp-link")
    os.replace(tmp_path / "tmp-link", link)  # atomic flip
    swapped.wait(10)
    reloader.stop()
    reloader.join(10)
    assert swapped.is_set()
    assert reloader.status.failures == 0


def test_run_survives_a_missing_folder(tmp_path: Path) -> None:
    store = PolicyStore()
    reloader = PolicyReloader(tmp_path / "not-yet", store, poll_interval=0.1, debounce_ms=50)

    reloader.start()
    time.sleep(0.3)
    (tmp_path / "not-yet").mkdir()
    (tmp_path / "not-yet" / "p.yaml").write_text(policy("x"))
    deadline = time.monotonic() + 10
    while not store.ready and time.monotonic() < deadline:
        time.sleep(0.05)
    reloader.stop()
    reloader.join(10)
    assert store.ready
    assert reloader.status.failures >= 1  # the attempts while the folder was missing
