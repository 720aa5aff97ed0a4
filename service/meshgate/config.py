"""The service's configuration: one YAML file, typed sections, defaults → load → validate, fail fast.

Every error names the key path (`identity.max_skew_seconds: ...`). Unknown keys are errors. Environment
variables override single scalar keys for containers: `MESHGATE_GRPC__LISTEN=0.0.0.0:50051` sets
`grpc.listen`, `MESHGATE_AUDIT__FILE__PATH=/var/log/meshgate/audit.jsonl` sets `audit.file.path` (a double
underscore goes one level deeper). `docs/configuration.md` lists every key; `meshgate config-reference`
generates it.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from meshgate import configparse as p
from meshgate.audit.config import AuditConfig, parse_audit_config
from meshgate.errors import ConfigError
from meshgate.oidc import IssuerConfig, OidcSettings, parse_issuers, parse_oidc_settings
from meshgate.oidc.issuers import IssuerKind
from meshgate.principal.kinds import superuser_problem
from meshgate.principal.linkerd import LinkerdNaming

ENV_PREFIX = "MESHGATE_"


@dataclass(frozen=True)
class GrpcConfig:
    listen: str = "127.0.0.1:50051"  # host:port, or unix:/path/to.sock
    max_concurrent_rpcs: int = 4096
    workers: int = 8  # threads answering unary calls
    queue_per_method: int = 64  # calls of one method waiting for a worker; the next is refused at once
    watch_streams: int = 4  # WatchRevision streams at once, each holding one more thread (one per broker)
    watch_streams_per_client: int = 2  # of them, held by one client other than the pod's own processes
    watch_reserved_clients: tuple[str, ...] = ()  # client-certificate identities with a slot kept free
    max_message_bytes: int = 1 << 20
    tls_cert: Path | None = None  # serving certificate (PEM); with tls_key, the gRPC port speaks TLS
    tls_key: Path | None = None
    tls_client_ca: Path | None = None  # CA bundle that client certificates must chain to (mutual TLS)
    insecure_plaintext_network: bool = False  # allow a network address without mutual TLS (logged)

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
    listen: str = ""  # host:port for /healthz, /readyz, /metrics; empty disables
    policy_endpoints: bool = True  # serve the read-only /v1/explain and /v1/who-can on the same port


@dataclass(frozen=True)
class PolicyConfig:
    dir: Path = Path("policies")
    superusers: tuple[str, ...] = ()
    watch: bool = True
    require_at_start: bool = False  # no valid policy at start-up is fatal instead of "waiting for a policy"


@dataclass(frozen=True)
class WorkloadApiConfig:
    enabled: bool = False  # trust bundles from the SPIFFE Workload API instead of trust_bundles files
    socket: str = ""  # unix:///path/agent.sock; empty: the SPIFFE_ENDPOINT_SOCKET environment variable
    start_timeout_seconds: float = 10.0  # wait this long at start for the first bundles, then serve not ready


@dataclass(frozen=True)
class IdentityConfig:
    trust_bundles: tuple[
        str, ...
    ] = ()  # "trust.domain=path.pem" or "path.pem" (domain from the CA's URI SAN)
    max_skew_seconds: float = 30.0
    linkerd: LinkerdNaming = field(default_factory=LinkerdNaming)
    l5d_client_id: bool = False
    cache_size: int = 10000
    workload_api: WorkloadApiConfig = field(default_factory=WorkloadApiConfig)


@dataclass(frozen=True)
class OidcConfig:
    issuers: tuple[IssuerConfig, ...] = ()
    settings: OidcSettings = field(default_factory=OidcSettings)


@dataclass(frozen=True)
class ServiceConfig:
    grpc: GrpcConfig = field(default_factory=GrpcConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    identity: IdentityConfig = field(default_factory=IdentityConfig)
    oidc: OidcConfig = field(default_factory=OidcConfig)
    audit: AuditConfig = field(default_factory=AuditConfig)


_SECTIONS = ("grpc", "http", "policy", "identity", "oidc", "audit")


def load_config(path: Path | None, env: Mapping[str, str] | None = None) -> ServiceConfig:
    """Read `path` (or only defaults when None), apply environment overrides, validate."""
    raw: dict[str, object] = {}
    if path is not None:
        raw = _read_yaml(path)
    _apply_env(raw, os.environ if env is None else env)
    base = path.parent if path is not None else Path.cwd()
    return parse_config(raw, base)


def _read_yaml(path: Path) -> dict[str, object]:
    try:
        loaded = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"{path}: cannot read configuration: {err}") from err
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: the configuration must be a mapping of sections")
    return loaded


def _apply_env(raw: dict[str, object], env: Mapping[str, str]) -> None:
    """`MESHGATE_AUDIT__FILE__PATH=/x` sets `audit.file.path`: each `__` goes one mapping deeper."""
    for name, value in sorted(env.items()):
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        *sections, key = name[len(ENV_PREFIX) :].lower().split("__")
        target = raw
        for depth, section in enumerate(sections):
            child = target.setdefault(section, {})
            if not isinstance(child, dict):
                where = ".".join(sections[: depth + 1])
                raise ConfigError(f"{where}: must be a mapping (set by {name})")
            target = child
        target[key] = yaml.safe_load(value)


def parse_config(raw: Mapping[str, object], base: Path) -> ServiceConfig:
    p.reject_unknown(raw, _SECTIONS, "config")
    config = ServiceConfig(
        grpc=_grpc(_section(raw, "grpc"), base),
        http=_http(_section(raw, "http")),
        policy=_policy(_section(raw, "policy"), base),
        identity=_identity(_section(raw, "identity"), base),
        oidc=_oidc(_section(raw, "oidc")),
        audit=parse_audit_config(_section(raw, "audit"), base),
    )
    _check_jwt_svid_keys(config)
    return config


def workload_api_jwt_issuers(oidc: OidcConfig) -> list[IssuerConfig]:
    """`kind: spiffe` issuers without a key URL: their keys are the Workload API's JWT bundles."""
    return [
        i
        for i in oidc.issuers
        if i.kind is IssuerKind.SPIFFE and i.jwks_url is None and i.discovery_url is None
    ]


def _check_jwt_svid_keys(config: ServiceConfig) -> None:
    for issuer in workload_api_jwt_issuers(config.oidc):
        if not config.identity.workload_api.enabled:
            raise ConfigError(
                f"oidc.issuers: {issuer.issuer!r} (kind: spiffe, no jwks_url) takes its keys from the "
                "SPIFFE Workload API: set identity.workload_api.enabled, or give the SPIRE bundle endpoint "
                "as jwks_url"
            )


def _section(raw: Mapping[str, object], name: str) -> Mapping[str, object]:
    return p.get_mapping(raw, name, "")


def _http(raw: Mapping[str, object]) -> HttpConfig:
    p.reject_unknown(raw, ("listen", "policy_endpoints"), "http")
    listen = p.get_str(raw, "listen", "http") if raw.get("listen") else ""
    if listen and not _host_port(listen):
        raise ConfigError(f"http.listen: {listen!r} must be host:port (port 0 picks a free one)")
    return HttpConfig(listen=listen, policy_endpoints=p.get_bool(raw, "policy_endpoints", "http", True))


def _host_port(listen: str) -> bool:
    host, sep, port = listen.rpartition(":")
    return bool(sep and host and port.isdigit() and int(port) < 65536)


_GRPC_KEYS = (
    "listen", "max_concurrent_rpcs", "workers", "queue_per_method", "watch_streams",
    "watch_streams_per_client", "watch_reserved_clients", "max_message_bytes", "tls_cert", "tls_key",
    "tls_client_ca", "insecure_plaintext_network",
)  # fmt: skip


def _grpc(raw: Mapping[str, object], base: Path) -> GrpcConfig:
    p.reject_unknown(raw, _GRPC_KEYS, "grpc")
    d = GrpcConfig()
    cert, key = p.get_opt_path(raw, "tls_cert", "grpc", base), p.get_opt_path(raw, "tls_key", "grpc", base)
    client_ca = p.get_opt_path(raw, "tls_client_ca", "grpc", base)
    if (cert is None) != (key is None):
        raise ConfigError("grpc.tls_cert and grpc.tls_key: set both or neither")
    if (client_ca is None) != (cert is None):
        # The service answers who may do what: a TLS listener always requires client certificates.
        raise ConfigError(
            "grpc.tls_client_ca: set it together with grpc.tls_cert and grpc.tls_key (mutual TLS)"
        )
    config = GrpcConfig(
        listen=p.get_str(raw, "listen", "grpc", d.listen),
        max_concurrent_rpcs=p.get_int(
            raw, "max_concurrent_rpcs", "grpc", d.max_concurrent_rpcs, low=1, high=1 << 20
        ),
        workers=p.get_int(raw, "workers", "grpc", d.workers, low=1, high=1024),
        queue_per_method=p.get_int(raw, "queue_per_method", "grpc", d.queue_per_method, low=1, high=1 << 20),
        watch_streams=p.get_int(raw, "watch_streams", "grpc", d.watch_streams, low=1, high=1024),
        watch_streams_per_client=p.get_int(
            raw, "watch_streams_per_client", "grpc", d.watch_streams_per_client, low=1, high=1024
        ),
        watch_reserved_clients=p.get_str_list(raw, "watch_reserved_clients", "grpc"),
        max_message_bytes=p.get_int(
            raw, "max_message_bytes", "grpc", d.max_message_bytes, low=1024, high=1 << 26
        ),
        tls_cert=cert,
        tls_key=key,
        tls_client_ca=client_ca,
        insecure_plaintext_network=p.get_bool(raw, "insecure_plaintext_network", "grpc", False),
    )
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


def _policy(raw: Mapping[str, object], base: Path) -> PolicyConfig:
    p.reject_unknown(raw, ("dir", "superusers", "watch", "require_at_start"), "policy")
    return PolicyConfig(
        dir=base / p.get_str(raw, "dir", "policy", "policies"),
        superusers=_superusers(raw),
        watch=p.get_bool(raw, "watch", "policy", True),
        require_at_start=p.get_bool(raw, "require_at_start", "policy", False),
    )


def _superusers(raw: Mapping[str, object]) -> tuple[str, ...]:
    superusers = tuple(p.get_str_list(raw, "superusers", "policy", default=()))
    for i, superuser in enumerate(superusers):
        problem = superuser_problem(superuser)
        if problem:
            raise ConfigError(f"policy.superusers[{i}]: {problem}")
    return superusers


def _identity(raw: Mapping[str, object], base: Path) -> IdentityConfig:
    allowed = ("trust_bundles", "max_skew_seconds", "linkerd", "l5d_client_id", "cache_size", "workload_api")
    p.reject_unknown(raw, allowed, "identity")
    d = IdentityConfig()
    specs = p.get_str_list(raw, "trust_bundles", "identity", default=())
    linkerd = p.get_mapping(raw, "linkerd", "identity")
    p.reject_unknown(linkerd, ("control_plane_namespace", "trust_domain"), "identity.linkerd")
    return IdentityConfig(
        trust_bundles=tuple(_rebase_spec(spec, base) for spec in specs),
        max_skew_seconds=p.get_number(
            raw, "max_skew_seconds", "identity", d.max_skew_seconds, low=0, high=600
        ),
        linkerd=LinkerdNaming(**{k: str(v) for k, v in linkerd.items()}),
        l5d_client_id=p.get_bool(raw, "l5d_client_id", "identity", False),
        cache_size=p.get_int(raw, "cache_size", "identity", d.cache_size, low=1, high=10_000_000),
        workload_api=_workload_api(p.get_mapping(raw, "workload_api", "identity"), bool(specs)),
    )


def _workload_api(raw: Mapping[str, object], files: bool) -> WorkloadApiConfig:
    where = "identity.workload_api"
    p.reject_unknown(raw, ("enabled", "socket", "start_timeout_seconds"), where)
    d = WorkloadApiConfig()
    cfg = WorkloadApiConfig(
        enabled=p.get_bool(raw, "enabled", where, False),
        socket=p.get_opt_str(raw, "socket", where) or "",
        start_timeout_seconds=p.get_number(
            raw, "start_timeout_seconds", where, d.start_timeout_seconds, low=0, high=600
        ),
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


def _oidc(raw: Mapping[str, object]) -> OidcConfig:
    issuers = raw.get("issuers", [])
    if not isinstance(issuers, list):
        raise ConfigError("oidc.issuers: must be a list of issuers")
    settings = {k: v for k, v in raw.items() if k != "issuers"}
    return OidcConfig(
        issuers=parse_issuers(issuers, where="oidc.issuers") if issuers else (),
        settings=parse_oidc_settings(settings, "oidc"),
    )
