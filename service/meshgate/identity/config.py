"""The `identity` config section: each field's default, range and description, its parser, and the checks
that need more than one key (trust bundles from files or from the Workload API, not both)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from meshgate.config import fields as c
from meshgate.errors import ConfigError
from meshgate.principal.linkerd import LinkerdNaming


@dataclass(frozen=True)
class WorkloadApiConfig:
    enabled: bool = c.setting(
        False,
        "Take trust bundles (own and federated trust domains) from the SPIFFE Workload API, streamed, "
        "instead of `trust_bundles` files; the last good bundles stay while the agent is unreachable.",
    )
    socket: str = c.setting("", "The agent's socket, `unix:///path`; empty reads `SPIFFE_ENDPOINT_SOCKET`.")
    start_timeout_seconds: float = c.setting(
        10.0,
        "Wait this long at start for the first bundles; after that the service runs not ready (every "
        "certificate refused) until they arrive.",
        low=0,
        high=600,
    )


@dataclass(frozen=True)
class IdentityConfig:
    trust_bundles: tuple[str, ...] = c.setting(
        (), "CA bundles as `TRUST_DOMAIN=FILE` or `FILE`; re-read when the files change."
    )  # a FILE alone: the domain is read from the CA's URI SAN
    max_skew_seconds: float = c.setting(
        30.0, "Clock skew tolerated on certificate validity.", low=0, high=600
    )
    linkerd: LinkerdNaming = c.setting(factory=LinkerdNaming)  # its keys are described on its fields
    l5d_client_id: bool = c.setting(
        False, "Accept the `l5d-client-id` header from a loopback peer (see docs/identity.md)."
    )
    cache_size: int = c.setting(
        10000,
        "Verified certificate chains kept (LRU); an entry lives until the chain expires.",
        low=1,
        high=10_000_000,
    )
    workload_api: WorkloadApiConfig = c.setting(factory=WorkloadApiConfig)


def parse_identity_config(raw: Mapping[str, object], base: Path) -> IdentityConfig:
    c.reject_unknown(raw, c.names(IdentityConfig), "identity")
    specs: tuple[str, ...] = c.read(IdentityConfig, raw, "identity", "trust_bundles")
    linkerd = c.get_mapping(raw, "linkerd", "identity")
    c.reject_unknown(linkerd, c.names(LinkerdNaming), "identity.linkerd")
    naming = LinkerdNaming(**{k: str(v) for k, v in linkerd.items()})
    rest = c.read_all(IdentityConfig, raw, "identity", but=("trust_bundles", "linkerd", "workload_api"))
    workload_api = _workload_api(c.get_mapping(raw, "workload_api", "identity"), bool(specs))
    return IdentityConfig(
        trust_bundles=tuple(_rebase_spec(spec, base) for spec in specs),
        linkerd=naming,
        workload_api=workload_api,
        **rest,
    )


def _workload_api(raw: Mapping[str, object], files: bool) -> WorkloadApiConfig:
    where = "identity.workload_api"
    c.reject_unknown(raw, c.names(WorkloadApiConfig), where)
    cfg = WorkloadApiConfig(
        socket=c.get_opt_str(raw, "socket", where) or "",
        **c.read_all(WorkloadApiConfig, raw, where, but=("socket",)),
    )
    if cfg.enabled and files:
        raise ConfigError(
            "identity.workload_api.enabled: trust bundles come either from the SPIFFE Workload API or from "
            "identity.trust_bundles files, not both; remove one"
        )
    if cfg.socket and not cfg.socket.startswith("unix:"):
        raise ConfigError(
            f"identity.workload_api.socket: {cfg.socket!r} is not a unix: address; write unix:///path/agent.sock"
        )
    return cfg


def _rebase_spec(spec: str, base: Path) -> str:
    """Relative bundle paths are relative to the config file, like every other path in it."""
    domain, sep, path = spec.rpartition("=")
    return f"{domain}{sep}{base / path}"
