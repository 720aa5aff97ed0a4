"""RevisionFeed: followers are blocking iterators in worker threads; `publish` from another thread reaches
each of them, a caller that left is noticed within `poll_seconds`, the slots are bounded, and `close` ends
every stream and refuses new ones."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from meshgate.errors import OverloadedError
from meshgate.server.servicer import RevisionFeed

WAIT = 5.0


def _feed(slots: int = 2) -> RevisionFeed:
    return RevisionFeed(lambda: "r1", slots=slots, poll_seconds=0.02)


def _drain(events: Iterator[tuple[str, float]], into: list[str]) -> threading.Thread:
    thread = threading.Thread(target=lambda: into.extend(revision for revision, _ in events), daemon=True)
    thread.start()
    return thread


def _wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.005)
    assert condition()


def test_every_follower_gets_the_current_revision_then_each_published_one() -> None:
    feed = _feed()
    seen: list[list[str]] = [[], []]
    threads = [_drain(feed.follow(), into) for into in seen]
    _wait_for(lambda: all(seen))
    feed.publish("r2")
    feed.publish("r3")
    _wait_for(lambda: all(len(s) == 3 for s in seen))
    feed.close()
    for thread in threads:
        thread.join(WAIT)
        assert not thread.is_alive()  # close ended the stream: the worker is free
    assert seen == [["r1", "r2", "r3"]] * 2 and feed.followers == 0


def test_a_follower_whose_caller_left_ends_within_the_poll_interval() -> None:
    feed = _feed()
    active = threading.Event()
    active.set()
    seen: list[str] = []
    thread = _drain(feed.follow(active.is_set), seen)
    _wait_for(lambda: seen == ["r1"])
    active.clear()
    thread.join(WAIT)
    assert not thread.is_alive() and feed.followers == 0


def test_streams_beyond_the_slots_are_refused_and_a_freed_slot_is_reused() -> None:
    feed = _feed(slots=1)
    first = feed.follow()
    assert next(first)[0] == "r1"
    with pytest.raises(OverloadedError) as refused:
        next(feed.follow())
    assert refused.value.code == "watch_slots_full" and "at most 1 WatchRevision" in refused.value.message
    first.close()  # the stream ended (gRPC closes the generator)
    assert next(feed.follow())[0] == "r1"


def test_after_close_a_new_stream_ends_at_once() -> None:
    feed = _feed()
    feed.close()
    assert list(feed.follow()) == []
