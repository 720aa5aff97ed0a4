"""gRPC server hardening: channel arguments and the graceful-shutdown sequence.

Pure functions return the options `grpc.server` takes; nothing here starts or owns a server. The values
follow grpc `doc/keepalive.md` and the service's request shape (a token or a short certificate chain):

* message sizes: requests and responses are capped at `max_message_bytes` (config `grpc.max_message_bytes`);
* concurrency: `maximum_concurrent_rpcs` rejects the excess at once with RESOURCE_EXHAUSTED; the per-
  connection stream limit is twice that, so it never binds first (HTTP/2 would queue the excess client-side);
* keepalive: the server pings idle connections every 60 s (dead peers go away after 20 s more); clients may
  ping without calls, but not more often than every 10 s, and 2 strikes close the connection (GOAWAY);
* handshakes must finish in 10 s;
* (a call whose deadline passed before it reached its handler is dropped by `admission.DeadlineGuard`);
* shutdown: health NOT_SERVING for every service (later `set` calls are ignored), a drain pause so callers
  notice, then `stop(grace)`, which refuses new RPCs and lets in-flight ones finish; long-lived streams are
  ended as it begins, so they do not hold the grace period (and their worker threads) to the end.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)

ChannelOption = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Keepalive:
    time_ms: int = 60_000  # server pings an idle connection this often
    timeout_ms: int = 20_000  # and closes it when the ping is not answered in time
    permit_without_calls: bool = True  # clients may ping while no call is active
    min_client_ping_interval_ms: int = 10_000  # pings closer together count as strikes
    max_ping_strikes: int = 2  # then GOAWAY (ENHANCE_YOUR_CALM / too_many_pings)


@dataclass(frozen=True, slots=True)
class ShutdownPlan:
    drain_seconds: float = 1.0  # NOT_SERVING is visible this long before the server stops accepting calls
    grace_seconds: float = 5.0  # in-flight calls get this long to finish after stop() begins


HANDSHAKE_TIMEOUT_MS = 10_000
STOP_SLACK_SECONDS = 5.0


def server_options(
    max_message_bytes: int, max_concurrent_rpcs: int, keepalive: Keepalive | None = None
) -> list[ChannelOption]:
    """Channel arguments for `grpc.server(options=...)`."""
    k = keepalive or Keepalive()
    return [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_concurrent_streams", 2 * max_concurrent_rpcs),
        ("grpc.keepalive_time_ms", k.time_ms),
        ("grpc.keepalive_timeout_ms", k.timeout_ms),
        ("grpc.keepalive_permit_without_calls", int(k.permit_without_calls)),
        ("grpc.http2.min_ping_interval_without_data_ms", k.min_client_ping_interval_ms),
        ("grpc.http2.max_ping_strikes", k.max_ping_strikes),
        ("grpc.server_handshake_timeout_ms", HANDSHAKE_TIMEOUT_MS),
        # grpcio sets SO_REUSEPORT by default: a second `meshgate serve` on a taken port would start "ready"
        # and silently take half of the broker's calls. Off, the second one fails to bind and says so.
        ("grpc.so_reuseport", 0),
    ]


class HealthLike(Protocol):
    def enter_graceful_shutdown(self) -> None: ...


class StoppableServer(Protocol):
    def stop(self, grace: float | None) -> threading.Event: ...


def graceful_shutdown(
    server: StoppableServer,
    health: HealthLike,
    plan: ShutdownPlan | None = None,
    *,
    before_stop: Callable[[], None] | None = None,
    end_streams: Callable[[], None] | None = None,
) -> None:
    """NOT_SERVING everywhere → drain → (optional `before_stop`) → `stop(grace)` → (optional `end_streams`,
    once new calls are refused); returns when stopped."""
    plan = plan or ShutdownPlan()
    health.enter_graceful_shutdown()
    log.info(
        "shutting down: NOT_SERVING, draining %.1fs, then grace %.1fs", plan.drain_seconds, plan.grace_seconds
    )
    time.sleep(plan.drain_seconds)
    if before_stop is not None:
        before_stop()
    stopped = server.stop(plan.grace_seconds)
    if end_streams is not None:
        end_streams()
    # The event is set once every call ended (finished, or cancelled when the grace ran out); the bound only
    # guards the process's exit against a gRPC core that never reports it.
    stopped.wait(plan.grace_seconds + STOP_SLACK_SECONDS)
