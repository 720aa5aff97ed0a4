"""The `audit` config section: defaults, `parse_audit_config`, validation. Errors name the full key path."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from meshgate import configparse as p
from meshgate.errors import ConfigError


@dataclass(frozen=True, slots=True)
class FileSinkConfig:
    path: Path | None = None  # JSON lines file; None disables the file sink
    max_bytes: int = 50 * 1024 * 1024  # rotate when the file would grow past this
    backups: int = 5  # rotated files kept (audit.jsonl.1 … .N)


@dataclass(frozen=True, slots=True)
class PulsarSinkConfig:
    service_url: str = ""  # pulsar+ssl://broker:6651 (or pulsar:// on loopback); empty disables the sink
    topic: str = "persistent://meshgate/audit/decisions"
    tls_cert: Path | None = None  # client certificate the sink authenticates with (AuthenticationTLS)
    tls_key: Path | None = None
    tls_trust_certs: Path | None = None  # CA bundle that verifies the broker's serving certificate
    batch_max_messages: int = 500  # a producer batch closes at this many records …
    batch_delay_ms: int = 50  # … or after this long
    reconnect_seconds: float = 5.0  # wait between attempts to create the producer


@dataclass(frozen=True, slots=True)
class AuditConfig:
    enabled: bool = True
    allow_sample_rate: float = 1.0  # share of allows written (0..1); denies and rejections are always written
    queue_size: int = 10000  # records buffered per sink; overflow is dropped and counted, never blocks
    stdout: bool = False  # one JSON line per record on standard output
    file: FileSinkConfig = field(default_factory=FileSinkConfig)
    pulsar: PulsarSinkConfig = field(default_factory=PulsarSinkConfig)

    @property
    def sinks(self) -> tuple[str, ...]:
        """Names of the configured sinks, in the order they are written."""
        named = (("file", self.file.path is not None), ("stdout", self.stdout))
        active = [name for name, on in named if on]
        return (*active, "pulsar") if self.pulsar.service_url else tuple(active)


_TOP = ("enabled", "allow_sample_rate", "queue_size", "stdout", "file", "pulsar")
_PULSAR = tuple(PulsarSinkConfig.__dataclass_fields__)


def parse_audit_config(raw: Mapping[str, object], base: Path) -> AuditConfig:
    """Read the `audit` section; relative paths are relative to `base` (the config file's folder)."""
    p.reject_unknown(raw, _TOP, "audit")
    d = AuditConfig()
    return AuditConfig(
        enabled=p.get_bool(raw, "enabled", "audit", d.enabled),
        allow_sample_rate=p.get_number(raw, "allow_sample_rate", "audit", d.allow_sample_rate, low=0, high=1),
        queue_size=p.get_int(raw, "queue_size", "audit", d.queue_size, low=1, high=1_000_000),
        stdout=p.get_bool(raw, "stdout", "audit", d.stdout),
        file=_file(_mapping(raw, "file"), base),
        pulsar=_pulsar(_mapping(raw, "pulsar"), base),
    )


def _mapping(raw: Mapping[str, object], key: str) -> Mapping[str, object]:
    return p.get_mapping(raw, key, "audit")


def _file(raw: Mapping[str, object], base: Path) -> FileSinkConfig:
    where = "audit.file"
    p.reject_unknown(raw, ("path", "max_bytes", "backups"), where)
    d = FileSinkConfig()
    return FileSinkConfig(
        path=p.get_opt_path(raw, "path", where, base),
        max_bytes=p.get_int(raw, "max_bytes", where, d.max_bytes, low=4096, high=1 << 40),
        backups=p.get_int(raw, "backups", where, d.backups, low=0, high=1000),
    )


def _pulsar(raw: Mapping[str, object], base: Path) -> PulsarSinkConfig:
    where = "audit.pulsar"
    p.reject_unknown(raw, _PULSAR, where)
    d = PulsarSinkConfig()
    url = p.get_opt_str(raw, "service_url", where) or ""
    if url and not url.startswith(("pulsar://", "pulsar+ssl://")):
        raise ConfigError(f"{where}.service_url: must start with pulsar:// or pulsar+ssl://")
    cert, key = p.get_opt_path(raw, "tls_cert", where, base), p.get_opt_path(raw, "tls_key", where, base)
    if (cert is None) != (key is None):
        raise ConfigError(f"{where}.tls_cert and {where}.tls_key: set both or neither")
    return PulsarSinkConfig(
        service_url=url,
        topic=p.get_str(raw, "topic", where, d.topic),
        tls_cert=cert,
        tls_key=key,
        tls_trust_certs=p.get_opt_path(raw, "tls_trust_certs", where, base),
        batch_max_messages=p.get_int(
            raw, "batch_max_messages", where, d.batch_max_messages, low=1, high=100_000
        ),
        batch_delay_ms=p.get_int(raw, "batch_delay_ms", where, d.batch_delay_ms, low=1, high=60_000),
        reconnect_seconds=p.get_number(
            raw, "reconnect_seconds", where, d.reconnect_seconds, low=0.1, high=3600
        ),
    )
