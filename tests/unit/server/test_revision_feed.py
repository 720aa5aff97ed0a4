"""RevisionFeed: followers are blocking iterators in worker threads; `publish` from another thread reaches
each of them, a caller that left is noticed within `poll_seconds`, the slots are bounded and shared out per
client with slots kept for reserved clients, and `close` ends every stream and refuses new ones."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from meshgate.errors import OverloadedError
from meshgate.server.revision_feed import LOCAL_CLIENT, RevisionFeed, WatchClient, watch_client

WAIT = 5.0


def _feed(slots: int = 2) -> RevisionFeed:
    return RevisionFeed(lambda: ("r1", "c1"), slots=slots, poll_seconds=0.02)


def _drain(events: Iterator[tuple[str, str, float]], into: list[str]) -> threading.Thread:
    thread = threading.Thread(target=lambda: into.extend(revision for revision, _, _ in events), daemon=True)
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


BROKER = "spiffe://td/ns/pulsar/sa/broker"
OTHER = "spiffe://td/ns/apps/sa/other"


def _tls(*names: str) -> WatchClient:
    return watch_client("ipv4:10.0.0.7:5123", [n.encode() for n in names])


@pytest.mark.parametrize(
    ("peer", "identities", "client"),
    [
        ("unix:/var/run/meshgate/meshgate.sock", None, LOCAL_CLIENT),
        ("unix:", None, LOCAL_CLIENT),
        ("ipv4:127.0.0.1:40000", None, LOCAL_CLIENT),
        ("ipv6:[::1]:40000", None, LOCAL_CLIENT),
        ("ipv4:10.0.0.7:40000", None, WatchClient("ipv4:10.0.0.7")),
        ("ipv6:[fd00::7]:40000", None, WatchClient("ipv6:fd00::7")),
        ("ipv4:127.0.0.1:40000", [BROKER.encode()], WatchClient(f"tls:{BROKER}", frozenset({BROKER}))),
    ],
)
def test_a_client_is_what_the_transport_proves(
    peer: str, identities: list[bytes] | None, client: WatchClient
) -> None:
    assert watch_client(peer, identities) == client


def test_one_client_holds_at_most_its_share_and_others_still_get_slots() -> None:
    feed = RevisionFeed(lambda: ("r1", "c1"), slots=4, per_client=2, poll_seconds=0.02)
    attacker = WatchClient("ipv4:10.0.0.66")
    held = [feed.follow(client=attacker) for _ in range(2)]
    assert all(next(stream)[0] == "r1" for stream in held)
    with pytest.raises(OverloadedError) as refused:
        next(feed.follow(client=attacker))
    assert refused.value.message == (
        "client ipv4:10.0.0.66 already follows 2 WatchRevision streams (grpc.watch_streams_per_client); "
        "retry later"
    )
    assert next(feed.follow(client=_tls(BROKER)))[0] == "r1"
    held[0].close()
    assert next(feed.follow(client=attacker))[0] == "r1"  # a freed share is the client's again


def test_the_pods_own_processes_are_not_limited_per_client() -> None:
    feed = RevisionFeed(lambda: ("r1", "c1"), slots=3, per_client=1, poll_seconds=0.02)
    streams = [feed.follow(client=LOCAL_CLIENT) for _ in range(3)]
    assert all(next(stream)[0] == "r1" for stream in streams)


def test_a_reserved_client_finds_its_slot_however_many_others_ask() -> None:
    feed = RevisionFeed(lambda: ("r1", "c1"), slots=3, per_client=1, reserved=[BROKER], poll_seconds=0.02)
    others = [feed.follow(client=_tls(f"{OTHER}-{n}")) for n in range(2)]
    assert all(next(stream)[0] == "r1" for stream in others)
    with pytest.raises(OverloadedError) as refused:
        next(feed.follow(client=_tls(f"{OTHER}-3")))
    assert refused.value.message == (
        "at most 3 WatchRevision streams at once (one per broker shim, 1 kept for "
        "grpc.watch_reserved_clients); retry later"
    )
    broker = feed.follow(client=_tls(BROKER))
    assert next(broker)[0] == "r1" and feed.followers == 3
    broker.close()  # the broker's stream broke: its slot is kept for its reconnect, not given away
    with pytest.raises(OverloadedError):
        next(feed.follow(client=_tls(f"{OTHER}-3")))
    assert next(feed.follow(client=_tls(BROKER)))[0] == "r1"


def test_each_event_carries_the_commit_beside_the_revision() -> None:
    feed = _feed()
    events = feed.follow()
    assert next(events)[:2] == ("r1", "c1")
    feed.publish("r2", "c2")
    assert next(events)[:2] == ("r2", "c2")
    feed.close()
