"""Issuer configuration: `IssuerConfig` and `parse_issuers`, which fails fast with the offending key named."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from meshgate.config import fields as c
from meshgate.errors import ConfigError
from meshgate.model import RESERVED_CLAIM_PREFIXES
from meshgate.oidc.clusters import check_clusters
from meshgate.oidc.principal import PrincipalRule, parse_principal_rule
from meshgate.oidc.sso_principals import check_sso_principals
from meshgate.principal.trustdomain import trust_domain_setting

# Asymmetric algorithms only. `none` and HS* can never be configured.
SUPPORTED_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
DEFAULT_ALGORITHMS = ("RS256",)
DEFAULT_PRINCIPAL = "oidc:{iss}#{sub}"
DEFAULT_TRUST_DOMAIN = "cluster.local"
MAX_LEEWAY_SECONDS = 300
DISCOVERY_PATH = "/.well-known/openid-configuration"

_COMMON_KEYS = (
    "issuer",
    "discovery_url",
    "jwks_url",
    "audiences",
    "algorithms",
    "kind",
    "leeway_seconds",
    "expose_claims",
    "require_kid",
)
_KIND_KEYS = {
    "sso": ("principal",),
    "kubernetes": ("trust_domain", "same_cluster_as"),
    "spiffe": ("trust_domain",),
}


class IssuerKind(StrEnum):
    SSO = "sso"
    KUBERNETES = "kubernetes"
    SPIFFE = "spiffe"  # JWT-SVIDs: `sub` is the workload's SPIFFE ID; keys from jwks_url or the Workload API


@dataclass(frozen=True, slots=True)
class IssuerConfig:
    issuer: str = c.setting(description="Expected `iss`, compared exactly.", required=True)
    # Exactly one of jwks_url / discovery_url is set (discovery derived from `issuer` when neither is given).
    jwks_url: str | None = c.setting(description="Where the signing keys are; set this or `discovery_url`.")
    discovery_url: str | None = c.setting(
        description="OpenID discovery document that names `jwks_uri`.",
        yaml_default="<issuer>" + DISCOVERY_PATH,
    )
    audiences: tuple[str, ...] = c.setting(
        description="Accepted `aud` values; at least one.", yaml_default=(), required=True
    )
    algorithms: tuple[str, ...] = c.setting(
        description="Accepted signature algorithms (asymmetric only).", yaml_default=DEFAULT_ALGORITHMS
    )
    kind: IssuerKind = c.setting(
        description="`sso` (people, mapped by `principal`), `kubernetes` (service accounts) or `spiffe` "
        "(JWT-SVIDs: `sub` is the workload's SPIFFE ID; without a key URL, keys from the Workload API).",
        yaml_default=IssuerKind.SSO,
    )
    leeway_seconds: int = c.setting(
        0, "Clock leeway on `exp`/`nbf`/`iat` (at most 300).", low=0, high=MAX_LEEWAY_SECONDS
    )
    principal: PrincipalRule | None = c.setting(  # sso only
        None,
        "Template for the principal of an SSO token, from its claims; starts with the literal `oidc:` "
        "(docs/oidc.md).",
        yaml_default=DEFAULT_PRINCIPAL,
    )
    expose_claims: tuple[str, ...] = c.setting(
        (), "Claims handed to the policy as attributes, e.g. `groups`."
    )
    trust_domain: str = c.setting(  # kubernetes and spiffe
        DEFAULT_TRUST_DOMAIN,
        "Trust domain of the SPIFFE principal made from a Kubernetes token; for `spiffe` (required there) "
        "the only trust domain whose JWT-SVIDs the issuer vouches for.",
    )
    same_cluster_as: str | None = c.setting(
        None,
        "Kubernetes issuers only: another issuer of the same cluster; required when two issuers map into "
        "one trust domain (docs/oidc.md).",
    )
    require_kid: bool = c.setting(
        True, "Refuse tokens without `kid`; false lets a single-key issuer omit it."
    )


def parse_issuers(raw: Sequence[Mapping[str, object]], *, where: str = "issuers") -> tuple[IssuerConfig, ...]:
    """Validate the issuer list; errors name the key, e.g. `issuers[1].audiences` (prefix: `where`)."""
    if isinstance(raw, str | bytes) or not isinstance(raw, Sequence) or not raw:
        raise ConfigError(f"{where}: must be a non-empty list")
    issuers = tuple(_parse_one(item, f"{where}[{i}]") for i, item in enumerate(raw))
    names = [cfg.issuer for cfg in issuers]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise ConfigError(f"{where}[{i}].issuer: duplicate issuer {name!r}")
    check_clusters([(i, cfg) for i, cfg in enumerate(issuers) if cfg.kind is IssuerKind.KUBERNETES], where)
    check_sso_principals(
        [(i, cfg.issuer, cfg.principal) for i, cfg in enumerate(issuers) if cfg.principal], where
    )
    return issuers


def _parse_one(raw: object, where: str) -> IssuerConfig:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: must be a mapping")
    kind = _kind(raw, where)
    c.reject_unknown(raw, _COMMON_KEYS + _KIND_KEYS[kind.value], where)
    issuer = c.get_str(raw, "issuer", where)
    jwks_url, discovery_url = _key_urls(raw, where, issuer, kind)
    return IssuerConfig(
        issuer=issuer,
        jwks_url=jwks_url,
        discovery_url=discovery_url,
        audiences=_audiences(raw, where),
        algorithms=_algorithms(raw, where),
        kind=kind,
        leeway_seconds=c.read(IssuerConfig, raw, where, "leeway_seconds"),
        principal=_principal(raw, where, kind),
        expose_claims=_expose_claims(raw, where),
        trust_domain=_trust_domain(raw, where, kind),
        require_kid=c.read(IssuerConfig, raw, where, "require_kid"),
        same_cluster_as=c.read(IssuerConfig, raw, where, "same_cluster_as"),
    )


def _kind(raw: Mapping[str, object], where: str) -> IssuerKind:
    value = c.get_str(raw, "kind", where, _default("kind").value)
    try:
        return IssuerKind(value)
    except ValueError:
        raise ConfigError(f"{where}.kind: must be sso, kubernetes or spiffe") from None


def _trust_domain(raw: Mapping[str, object], where: str, kind: IssuerKind) -> str:
    if kind is IssuerKind.SPIFFE and "trust_domain" not in raw:
        raise ConfigError(f"{where}.trust_domain: a spiffe issuer needs the trust domain its JWT-SVIDs name")
    value = c.read(IssuerConfig, raw, where, "trust_domain")
    return trust_domain_setting(value, f"{where}.trust_domain")


def _key_urls(
    raw: Mapping[str, object], where: str, issuer: str, kind: IssuerKind
) -> tuple[str | None, str | None]:
    jwks_url = c.get_url(raw, "jwks_url", where)
    discovery_url = c.get_url(raw, "discovery_url", where)
    if jwks_url and discovery_url:
        raise ConfigError(f"{where}.jwks_url: set either jwks_url or discovery_url, not both")
    if kind is IssuerKind.SPIFFE:
        return jwks_url, discovery_url  # neither: the JWT bundles of the SPIFFE Workload API
    if jwks_url is None and discovery_url is None:
        discovery_url = issuer.rstrip("/") + DISCOVERY_PATH
        problem = c.fetchable_url_problem(discovery_url)
        if problem:
            raise ConfigError(f"{where}.issuer: discovery URL derived from it {problem}")
    return jwks_url, discovery_url


def _audiences(raw: Mapping[str, object], where: str) -> tuple[str, ...]:
    audiences: tuple[str, ...] = c.read(IssuerConfig, raw, where, "audiences")
    if not audiences:
        raise ConfigError(f"{where}.audiences: at least one audience is required")
    return audiences


def _algorithms(raw: Mapping[str, object], where: str) -> tuple[str, ...]:
    algorithms: tuple[str, ...] = c.read(IssuerConfig, raw, where, "algorithms")
    bad = [alg for alg in algorithms if alg not in SUPPORTED_ALGORITHMS]
    if bad or not algorithms:
        raise ConfigError(f"{where}.algorithms: {bad or 'empty'}; allowed: {sorted(SUPPORTED_ALGORITHMS)}")
    return algorithms


def _expose_claims(raw: Mapping[str, object], where: str) -> tuple[str, ...]:
    names: tuple[str, ...] = c.read(IssuerConfig, raw, where, "expose_claims")
    for name in names:
        if name.startswith(RESERVED_CLAIM_PREFIXES):
            raise ConfigError(
                f"{where}.expose_claims: {name!r} starts with a prefix reserved for delegated tokens "
                f"({', '.join(RESERVED_CLAIM_PREFIXES)}): the policy sees the claims of the person an agent "
                f"acts for as subject.<claim>; expose the claim by its own name"
            )
    return names


def _principal(raw: Mapping[str, object], where: str, kind: IssuerKind) -> PrincipalRule | None:
    if kind is not IssuerKind.SSO:
        return None
    source = c.get_str(raw, "principal", where, _default("principal"))
    return parse_principal_rule(source, f"{where}.principal")


def _default(name: str) -> Any:
    return c.default_of(c.field_of(IssuerConfig, name))
