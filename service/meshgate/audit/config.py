"""The `audit` config section: each field's default, range and description, `parse_audit_config`,
validation. Errors name the full key path."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from meshgate.config import fields as c
from meshgate.errors import ConfigError


@dataclass(frozen=True, slots=True)
class FileSinkConfig:
    path: Path | None = c.setting(None, "JSON lines file; unset disables the file sink.")
    max_bytes: int = c.setting(
        50 * 1024 * 1024, "Rotate the file when it would grow past this size.", low=4096, high=1 << 40
    )
    backups: int = c.setting(
        5, "Rotated files kept (`audit.jsonl.1` … `.N`); `0` never rotates.", low=0, high=1000
    )


@dataclass(frozen=True, slots=True)
class PulsarSinkConfig:
    service_url: str = c.setting(
        "", "Broker URL for the topic sink (`pulsar+ssl://…`); empty disables it."
    )  # or pulsar:// on loopback
    topic: str = c.setting(
        "persistent://meshgate/audit/decisions",
        "Topic the records are produced to; the sink's identity needs `topic.produce` on it.",
    )
    tls_cert: Path | None = c.setting(
        None, "Client certificate the sink authenticates with (Pulsar AuthenticationTLS)."
    )
    tls_key: Path | None = c.setting(None, "Private key of `tls_cert`.")
    tls_trust_certs: Path | None = c.setting(
        None, "CA bundle that verifies the broker's serving certificate."
    )
    batch_max_messages: int = c.setting(
        500, "A producer batch closes at this many records …", low=1, high=100_000
    )
    batch_delay_ms: int = c.setting(50, "… or after this many milliseconds.", low=1, high=60_000)
    reconnect_seconds: float = c.setting(
        5.0, "Wait between attempts to create the producer while the broker is away.", low=0.1, high=3600
    )


@dataclass(frozen=True, slots=True)
class AuditConfig:
    enabled: bool = c.setting(True, "Write decision and authentication records to the configured sinks.")
    allow_sample_rate: float = c.setting(
        1.0, "Share of allows and successful logins written (0..1); denials always are.", low=0, high=1
    )
    queue_size: int = c.setting(
        10000,
        "Records buffered per sink; a full queue drops (counted), it never delays a decision.",
        low=1,
        high=1_000_000,
    )
    stdout: bool = c.setting(False, "One JSON line per record on standard output (for a node log collector).")
    file: FileSinkConfig = c.setting(factory=FileSinkConfig)
    pulsar: PulsarSinkConfig = c.setting(factory=PulsarSinkConfig)

    @property
    def sinks(self) -> tuple[str, ...]:
        """Names of the configured sinks, in the order they are written."""
        named = (("file", self.file.path is not None), ("stdout", self.stdout))
        active = [name for name, on in named if on]
        return (*active, "pulsar") if self.pulsar.service_url else tuple(active)


def parse_audit_config(raw: Mapping[str, object], base: Path) -> AuditConfig:
    """Read the `audit` section; relative paths are relative to `base` (the config file's folder)."""
    c.reject_unknown(raw, c.names(AuditConfig), "audit")
    return AuditConfig(
        **c.read_all(AuditConfig, raw, "audit", but=("file", "pulsar")),
        file=_file(c.get_mapping(raw, "file", "audit"), base),
        pulsar=_pulsar(c.get_mapping(raw, "pulsar", "audit"), base),
    )


def _file(raw: Mapping[str, object], base: Path) -> FileSinkConfig:
    where = "audit.file"
    c.reject_unknown(raw, c.names(FileSinkConfig), where)
    return FileSinkConfig(**c.read_all(FileSinkConfig, raw, where, base))


def _pulsar(raw: Mapping[str, object], base: Path) -> PulsarSinkConfig:
    where = "audit.pulsar"
    c.reject_unknown(raw, c.names(PulsarSinkConfig), where)
    url = c.get_opt_str(raw, "service_url", where) or ""
    if url and not url.startswith(("pulsar://", "pulsar+ssl://")):
        raise ConfigError(f"{where}.service_url: must start with pulsar:// or pulsar+ssl://")
    cert = c.read(PulsarSinkConfig, raw, where, "tls_cert", base)
    key = c.read(PulsarSinkConfig, raw, where, "tls_key", base)
    if (cert is None) != (key is None):
        raise ConfigError(f"{where}.tls_cert and {where}.tls_key: set both or neither")
    rest = c.read_all(PulsarSinkConfig, raw, where, base, but=("service_url", "tls_cert", "tls_key"))
    return PulsarSinkConfig(service_url=url, tls_cert=cert, tls_key=key, **rest)
