"""The service's configuration: one YAML file, a section per component, defaults → load → validate, fail
fast.

Each section is its component's dataclass, every field with its default, range and description
(`fields.setting`): `grpc` and `http` (`server/config.py`), `policy` (`policy/config.py`), `identity`
(`identity/config.py`), `oidc` (`oidc/settings.py`, `oidc/issuers.py`), `audit` (`audit/config.py`).
Every error names the key path (`identity.max_skew_seconds: ...`). Unknown keys are errors. Environment
variables override single scalar keys for containers: `MESHGATE_GRPC__LISTEN=0.0.0.0:50051` sets
`grpc.listen`, `MESHGATE_AUDIT__FILE__PATH=/var/log/meshgate/audit.jsonl` sets `audit.file.path` (a double
underscore goes one level deeper). `docs/configuration.md` lists every key; `meshgate config-reference`
generates it from the same metadata (`reference.py`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from meshgate.audit.config import AuditConfig, parse_audit_config
from meshgate.config import fields as c
from meshgate.errors import ConfigError
from meshgate.identity.config import IdentityConfig, parse_identity_config
from meshgate.oidc.issuers import IssuerConfig, IssuerKind, parse_issuers
from meshgate.oidc.settings import OidcSettings, parse_oidc_settings
from meshgate.policy.config import PolicyConfig, parse_policy_config
from meshgate.server.config import GrpcConfig, HttpConfig, parse_grpc, parse_http

ENV_PREFIX = "MESHGATE_"


@dataclass(frozen=True)
class OidcConfig:
    issuers: tuple[IssuerConfig, ...] = c.setting(
        (), "Token issuers (SSO or Kubernetes service-account tokens); see docs/oidc.md."
    )
    settings: OidcSettings = c.setting(factory=OidcSettings)  # its keys sit directly in `oidc`


@dataclass(frozen=True)
class ServiceConfig:
    grpc: GrpcConfig = c.setting(factory=GrpcConfig)
    http: HttpConfig = c.setting(factory=HttpConfig)
    policy: PolicyConfig = c.setting(factory=PolicyConfig)
    identity: IdentityConfig = c.setting(factory=IdentityConfig)
    oidc: OidcConfig = c.setting(factory=OidcConfig)
    audit: AuditConfig = c.setting(factory=AuditConfig)


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
    c.reject_unknown(raw, c.names(ServiceConfig), "config")
    config = ServiceConfig(
        grpc=parse_grpc(_section(raw, "grpc"), base),
        http=parse_http(_section(raw, "http")),
        policy=parse_policy_config(_section(raw, "policy"), base),
        identity=parse_identity_config(_section(raw, "identity"), base),
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
    return c.get_mapping(raw, name, "")


def _oidc(raw: Mapping[str, object]) -> OidcConfig:
    issuers = raw.get("issuers", [])
    if not isinstance(issuers, list):
        raise ConfigError("oidc.issuers: must be a list of issuers")
    settings = {k: v for k, v in raw.items() if k != "issuers"}
    return OidcConfig(
        issuers=parse_issuers(issuers, where="oidc.issuers") if issuers else (),
        settings=parse_oidc_settings(settings, "oidc"),
    )
