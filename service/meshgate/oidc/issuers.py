"""Issuer configuration: `IssuerConfig` and `parse_issuers`, which fails fast with the offending key named."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from meshgate import configparse as p
from meshgate.errors import ConfigError
from meshgate.model import RESERVED_CLAIM_PREFIXES
from meshgate.oidc.clusters import check_clusters
from meshgate.oidc.principal import PrincipalRule, parse_principal_rule
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
    issuer: str  # compared with `iss` by exact string match
    jwks_url: str | None  # exactly one of jwks_url / discovery_url is set
    discovery_url: str | None
    audiences: tuple[str, ...]
    algorithms: tuple[str, ...]
    kind: IssuerKind
    leeway_seconds: int = 0
    principal: PrincipalRule | None = None  # sso only
    expose_claims: tuple[str, ...] = ()
    trust_domain: str = DEFAULT_TRUST_DOMAIN  # kubernetes and spiffe
    same_cluster_as: str | None = None  # kubernetes only: another issuer of this cluster (same trust domain)
    require_kid: bool = True  # False: a token without `kid` may use the issuer's only key


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
    return issuers


def _parse_one(raw: object, where: str) -> IssuerConfig:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: must be a mapping")
    kind = _kind(raw, where)
    p.reject_unknown(raw, _COMMON_KEYS + _KIND_KEYS[kind.value], where)
    issuer = p.get_str(raw, "issuer", where)
    jwks_url, discovery_url = _key_urls(raw, where, issuer, kind)
    return IssuerConfig(
        issuer=issuer,
        jwks_url=jwks_url,
        discovery_url=discovery_url,
        audiences=_audiences(raw, where),
        algorithms=_algorithms(raw, where),
        kind=kind,
        leeway_seconds=p.get_int(raw, "leeway_seconds", where, 0, low=0, high=MAX_LEEWAY_SECONDS),
        principal=_principal(raw, where, kind),
        expose_claims=_expose_claims(raw, where),
        trust_domain=_trust_domain(raw, where, kind),
        require_kid=p.get_bool(raw, "require_kid", where, True),
        same_cluster_as=p.get_opt_str(raw, "same_cluster_as", where),
    )


def _kind(raw: Mapping[str, object], where: str) -> IssuerKind:
    value = p.get_str(raw, "kind", where, IssuerKind.SSO.value)
    try:
        return IssuerKind(value)
    except ValueError:
        raise ConfigError(f"{where}.kind: must be sso, kubernetes or spiffe") from None


def _trust_domain(raw: Mapping[str, object], where: str, kind: IssuerKind) -> str:
    if kind is IssuerKind.SPIFFE and "trust_domain" not in raw:
        raise ConfigError(f"{where}.trust_domain: a spiffe issuer needs the trust domain its JWT-SVIDs name")
    value = p.get_str(raw, "trust_domain", where, DEFAULT_TRUST_DOMAIN)
    return trust_domain_setting(value, f"{where}.trust_domain")


def _key_urls(
    raw: Mapping[str, object], where: str, issuer: str, kind: IssuerKind
) -> tuple[str | None, str | None]:
    jwks_url = p.get_url(raw, "jwks_url", where)
    discovery_url = p.get_url(raw, "discovery_url", where)
    if jwks_url and discovery_url:
        raise ConfigError(f"{where}.jwks_url: set either jwks_url or discovery_url, not both")
    if kind is IssuerKind.SPIFFE:
        return jwks_url, discovery_url  # neither: the JWT bundles of the SPIFFE Workload API
    if jwks_url is None and discovery_url is None:
        discovery_url = issuer.rstrip("/") + DISCOVERY_PATH
        problem = p.fetchable_url_problem(discovery_url)
        if problem:
            raise ConfigError(f"{where}.issuer: discovery URL derived from it {problem}")
    return jwks_url, discovery_url


def _audiences(raw: Mapping[str, object], where: str) -> tuple[str, ...]:
    audiences = p.get_str_list(raw, "audiences", where)
    if not audiences:
        raise ConfigError(f"{where}.audiences: at least one audience is required")
    return audiences


def _algorithms(raw: Mapping[str, object], where: str) -> tuple[str, ...]:
    algorithms = p.get_str_list(raw, "algorithms", where, default=DEFAULT_ALGORITHMS)
    bad = [alg for alg in algorithms if alg not in SUPPORTED_ALGORITHMS]
    if bad or not algorithms:
        raise ConfigError(f"{where}.algorithms: {bad or 'empty'}; allowed: {sorted(SUPPORTED_ALGORITHMS)}")
    return algorithms


def _expose_claims(raw: Mapping[str, object], where: str) -> tuple[str, ...]:
    names = p.get_str_list(raw, "expose_claims", where)
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
    source = p.get_str(raw, "principal", where, DEFAULT_PRINCIPAL)
    return parse_principal_rule(source, f"{where}.principal")
