"""The WatchRevision streams: who holds one, how many one client may hold, and the slots kept for brokers.

Each stream holds a worker thread, so the slots are few (`grpc.watch_streams`). The broker shim sends
nothing that names it (an empty `WatchRevisionRequest`), so a client is what the transport proves:

* mutual TLS: the identities of its client certificate (`tls:spiffe://td/ns/pulsar/sa/broker`);
* a Unix socket or a loopback address: `local`, the pod's (or host's) own processes, in practice the
  broker beside the service;
* any other TCP peer (only with `grpc.insecure_plaintext_network`): its IP address, which proves nothing.

A client other than `local` holds at most `grpc.watch_streams_per_client` streams, so one client cannot
take every slot. Each identity in `grpc.watch_reserved_clients` (the brokers' certificates) has one slot
kept free for it while it follows nothing, so no other client can stop a broker from following revisions.
On a plaintext TCP port the service cannot tell the shim from anyone else: that is why such a listener
refuses to start unless explicitly allowed (`meshgate.config`).
"""

from __future__ import annotations

import ipaddress
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass

from meshgate.errors import OverloadedError

WATCH_SLOTS = 4  # WatchRevision streams served at once (each holds a worker thread): `grpc.watch_streams`
PER_CLIENT = 2  # `grpc.watch_streams_per_client`: a shim's stream and its reconnect overlapping
LOCAL = "local"
_Event = tuple[str, str, float]  # revision, commit, activated at (unix seconds)
Current = Callable[[], tuple[str, str]]  # the active (revision, commit), ("", "") before the first load


@dataclass(frozen=True, slots=True)
class WatchClient:
    """Who opened a stream, as far as the transport proves it."""

    key: str  # what the per-client limit counts
    identities: frozenset[str] = frozenset()  # client certificate identities (mutual TLS only)


LOCAL_CLIENT = WatchClient(LOCAL)


def watch_client(peer: str, identities: Iterable[bytes] | None) -> WatchClient:
    """The client of a call from grpc's `context.peer()` (`ipv4:10.0.0.7:5123`, `ipv6:[::1]:5123`,
    `unix:/path`) and `context.peer_identities()` (None without a client certificate)."""
    names = frozenset(name.decode("utf-8", "replace") for name in identities or ())
    if names:
        return WatchClient("tls:" + ",".join(sorted(names)), names)
    kind, _, address = peer.partition(":")
    if kind not in ("ipv4", "ipv6"):
        return LOCAL_CLIENT  # unix:, unix-abstract:
    host = address.rpartition(":")[0].strip("[]")
    try:
        local = ipaddress.ip_address(host).is_loopback
    except ValueError:
        local = False
    return LOCAL_CLIENT if local else WatchClient(f"{kind}:{host}")


class RevisionFeed:
    """Fans policy revision changes out to every WatchRevision stream.

    `publish` and `close` may be called from any thread (the policy swap runs on the event loop). Each
    follower blocks a worker thread on its own queue, waking every `poll_seconds` to notice a caller that
    left. A stream beyond the slots, the client's share or the slots kept for reserved clients is refused
    (`OverloadedError`). `close` (shutdown) ends every stream and refuses new ones, so no worker waits out
    the grace period.
    """

    def __init__(
        self,
        current: Current,
        *,
        slots: int = WATCH_SLOTS,
        per_client: int = PER_CLIENT,
        reserved: Collection[str] = (),
        poll_seconds: float = 1.0,
    ) -> None:
        self._current = current
        self._slots = slots
        self._per_client = per_client
        self._reserved = frozenset(reserved)
        self._poll = poll_seconds
        self._activated_at = time.time()
        self._queues: dict[queue.SimpleQueue[_Event | None], WatchClient] = {}
        self._held: Counter[str] = Counter()  # streams per client key
        self._following: Counter[str] = Counter()  # streams per reserved identity
        self._lock = threading.Lock()
        self._closed = False

    @property
    def followers(self) -> int:
        return len(self._queues)

    def publish(self, revision: str, commit: str = "") -> None:
        """Call whenever a new revision becomes active."""
        with self._lock:
            self._activated_at = time.time()
            for waiting in self._queues:
                waiting.put((revision, commit, self._activated_at))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for waiting in self._queues:
                waiting.put(None)

    def follow(
        self, active: Callable[[], bool] = lambda: True, client: WatchClient = LOCAL_CLIENT
    ) -> Iterator[_Event]:
        """The active revision, then each new one, while `active()` and until `close`."""
        events = self._join(client)
        if events is None:
            return
        try:
            revision, commit = self._current()
            yield revision, commit, self._activated_at
            while active():
                try:
                    event = events.get(timeout=self._poll)
                except queue.Empty:
                    continue
                if event is None:
                    return
                yield event
        finally:
            self._leave(events)

    def _join(self, client: WatchClient) -> queue.SimpleQueue[_Event | None] | None:
        with self._lock:
            if self._closed:
                return None
            refusal = self._refusal(client)
            if refusal:
                raise OverloadedError(refusal, code="watch_slots_full")
            events: queue.SimpleQueue[_Event | None] = queue.SimpleQueue()
            self._queues[events] = client
            self._held[client.key] += 1
            self._following.update(client.identities & self._reserved)
            return events

    def _leave(self, events: queue.SimpleQueue[_Event | None]) -> None:
        with self._lock:
            client = self._queues.pop(events)
            self._held[client.key] -= 1
            self._following.subtract(client.identities & self._reserved)

    def _refusal(self, client: WatchClient) -> str:
        """Why `client` may not open one more stream now ("" if it may)."""
        held = self._held[client.key]
        if client.key != LOCAL and held >= self._per_client:
            return (
                f"client {client.key} already follows {held} WatchRevision streams "
                f"(grpc.watch_streams_per_client); retry later"
            )
        kept = sum(1 for r in self._reserved if self._following[r] <= 0 and r not in client.identities)
        if len(self._queues) + kept >= self._slots:
            kept_note = f", {kept} kept for grpc.watch_reserved_clients" if kept else ""
            return (
                f"at most {self._slots} WatchRevision streams at once (one per broker shim{kept_note}); "
                "retry later"
            )
        return ""
