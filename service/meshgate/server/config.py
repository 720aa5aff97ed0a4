"""The `grpc` and `http` config sections: each field's default, range and description, their parsers and
the checks that need more than one key (TLS set as a whole, a network listener needs mutual TLS)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from meshgate.config import fields as c
from meshgate.errors import ConfigError


@dataclass(frozen=True)
class GrpcConfig:
    listen: str = c.setting(
        "127.0.0.1:50051",
        "Where the gRPC API listens: `unix:/path/to.sock` beside the broker, or `host:port`; an address "
        "other than loopback needs mutual TLS (`tls_*`) or `insecure_plaintext_network`, else the service "
        "refuses to start.",
    )
    max_concurrent_rpcs: int = c.setting(
        4096, "Calls served at once; further calls are refused with RESOURCE_EXHAUSTED.", low=1, high=1 << 20
    )
    workers: int = c.setting(
        8,
        "Threads answering unary calls (CPU-bound: a few per core); `watch_streams` adds its own.",
        low=1,
        high=1024,
    )
    queue_per_method: int = c.setting(
        64,
        "Calls of one method waiting for a worker; the next is refused at once with RESOURCE_EXHAUSTED (the "
        "shim asks again after a backoff), instead of waiting past its deadline.",
        low=1,
        high=1 << 20,
    )
    watch_streams: int = c.setting(
        4,
        "WatchRevision streams served at once, each holding a thread (one per broker shim).",
        low=1,
        high=1024,
    )
    watch_streams_per_client: int = c.setting(
        2,
        "Of those, how many one client may hold: one client-certificate identity (mutual TLS) or one IP "
        "address; the pod's own processes (Unix socket, loopback) are not limited.",
        low=1,
        high=1024,
    )
    watch_reserved_clients: tuple[str, ...] = c.setting(
        (),
        "Client-certificate identities (e.g. the brokers' SPIFFE IDs) that each have one WatchRevision slot "
        "kept free while they follow none, so other clients cannot crowd a broker out. Needs mutual TLS.",
    )
    max_message_bytes: int = c.setting(
        1 << 20, "Largest request or response message accepted.", low=1024, high=1 << 26
    )
    tls_cert: Path | None = c.setting(
        None,
        "Serving certificate chain (PEM). With `tls_key`, the gRPC port speaks TLS; re-read on change.",
    )
    tls_key: Path | None = c.setting(
        None, "Private key of `tls_cert` (PEM); a rotated pair must match or the old one stays in use."
    )
    tls_client_ca: Path | None = c.setting(
        None, "CA bundle client certificates must chain to; required with `tls_cert` (always mutual TLS)."
    )
    frames: bool = c.setting(
        True,
        "With `listen: unix:/path` and no TLS, also serve the broker plugin's AuthenticateBatch and "
        "AuthorizeBatch as length-prefixed frames on `/path.frames`, with the gRPC socket's file mode "
        "(docs/frames.md); the same chain, metrics and audit records, less CPU per call.",
    )
    insecure_plaintext_network: bool = c.setting(
        False,
        "INSECURE. Allow `listen` on a network address (not `unix:`, not loopback) without mutual TLS: "
        "anyone who reaches the port may ask about any principal, and a peer address is all that tells "
        "clients apart. Without it such a listener refuses to start; with it, every start logs a warning. "
        "Only for a network isolated by other means.",
    )

    @property
    def unix_socket(self) -> Path | None:
        """The gRPC socket's file for `unix:/path` (or `unix:///path`); None for any other `listen`."""
        if not self.listen.startswith("unix:"):
            return None
        path = self.listen.removeprefix("unix:")
        return Path(path[2:] if path.startswith("//") else path)

    @property
    def frames_socket(self) -> Path | None:
        """The frames listener's socket: `/path.frames` beside `unix:/path` without TLS, when `frames`."""
        grpc_socket = self.unix_socket
        if not self.frames or self.tls_cert is not None or grpc_socket is None:
            return None
        return grpc_socket.with_name(f"{grpc_socket.name}.frames")

    @property
    def plaintext_network(self) -> bool:
        """Anyone who reaches the network can call: a TCP address other than loopback, without TLS."""
        return self.tls_cert is None and not is_local_listen(self.listen)


def is_local_listen(listen: str) -> bool:
    """`unix:/path` (or `unix-abstract:`), or a loopback `host:port`: only this pod or host can connect."""
    if listen.startswith(("unix:", "unix-abstract:")):
        return True
    host = listen.rpartition(":")[0].strip("[]")
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class HttpConfig:
    listen: str = c.setting(
        "",
        "`host:port` for /healthz, /readyz, /metrics (port 0 picks a free one); empty disables HTTP.",
    )
    policy_endpoints: bool = c.setting(
        True, "Also serve the read-only `/v1/explain` and `/v1/who-can` (they reveal the policy)."
    )
    max_connections: int = c.setting(
        64,
        "Connections served at once, each on a thread of its own; one more is answered 503 and closed.",
        low=1,
        high=4096,
    )
    timeout_seconds: float = c.setting(
        5.0,
        "A connection has this long to send each request's line and headers (from when it opened or got "
        "its previous answer; also how long an idle keep-alive connection stays open) and to take each "
        "answer; a slower one is closed.",
        low=0.1,
        high=300,
    )
    max_header_bytes: int = c.setting(
        16384,
        "Largest request line plus headers; a larger request is answered 414 (line) or 431 and closed.",
        low=1024,
        high=65536,
    )


def parse_http(raw: Mapping[str, object]) -> HttpConfig:
    c.reject_unknown(raw, c.names(HttpConfig), "http")
    listen = c.get_str(raw, "listen", "http") if raw.get("listen") else ""
    if listen and not _host_port(listen):
        raise ConfigError(f"http.listen: {listen!r} must be host:port (port 0 picks a free one)")
    return HttpConfig(listen=listen, **c.read_all(HttpConfig, raw, "http", but=("listen",)))


def _host_port(listen: str) -> bool:
    host, sep, port = listen.rpartition(":")
    return bool(sep and host and port.isdigit() and int(port) < 65536)


_TLS = ("tls_cert", "tls_key", "tls_client_ca")


def parse_grpc(raw: Mapping[str, object], base: Path) -> GrpcConfig:
    c.reject_unknown(raw, c.names(GrpcConfig), "grpc")
    cert, key, client_ca = (c.read(GrpcConfig, raw, "grpc", name, base) for name in _TLS)
    if (cert is None) != (key is None):
        raise ConfigError("grpc.tls_cert and grpc.tls_key: set both or neither")
    if (client_ca is None) != (cert is None):
        # The service answers who may do what: a TLS listener always requires client certificates.
        raise ConfigError(
            "grpc.tls_client_ca: set it together with grpc.tls_cert and grpc.tls_key (mutual TLS)"
        )
    rest = c.read_all(GrpcConfig, raw, "grpc", base, but=_TLS)
    config = GrpcConfig(tls_cert=cert, tls_key=key, tls_client_ca=client_ca, **rest)
    _check_grpc_exposure(config)
    return config


def _check_grpc_exposure(config: GrpcConfig) -> None:
    if config.plaintext_network and not config.insecure_plaintext_network:
        raise ConfigError(
            f"grpc.listen: {config.listen!r} is reachable from the network without mutual TLS, so anyone "
            "who can connect may ask about any principal and hold the WatchRevision streams; listen on "
            "unix:/path (beside the broker) or a loopback address, or set grpc.tls_cert, grpc.tls_key and "
            "grpc.tls_client_ca; only on a network isolated by other means, set "
            "grpc.insecure_plaintext_network: true"
        )
    reserved = config.watch_reserved_clients
    if reserved and config.tls_cert is None:
        raise ConfigError(
            "grpc.watch_reserved_clients: names client-certificate identities, so it needs mutual TLS "
            "(grpc.tls_cert, grpc.tls_key, grpc.tls_client_ca)"
        )
    if len(reserved) > config.watch_streams:
        raise ConfigError(
            f"grpc.watch_reserved_clients: {len(reserved)} reserved clients need at least as many "
            f"grpc.watch_streams (it is {config.watch_streams})"
        )
