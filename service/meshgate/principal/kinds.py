"""The kinds of credential a principal can come from, and which principals each kind may produce.

Principals are unforgeable across kinds. Every principal lies in one namespace, read off its text:

- `spiffe`: starts with `spiffe:` (in any case). Only an X.509-SVID, a Linkerd certificate or
  `l5d-client-id`, a Kubernetes issuer's service-account mapping, or a JWT-SVID from a `kind: spiffe`
  issuer produces one.
- `sso`: starts with `oidc:`. Only an SSO issuer's principal template produces one, and the template must
  start with that literal; an SSO principal is never a configured super-user.
- `plain`: anything else: a plain Pulsar role from another authentication provider.

`check_principal` applies the rule where a principal is rendered from text a caller controls (token
claims). `sso_template_problem` and `superuser_problem` are the same rule for configuration, so a
configuration that could cross is refused before it serves.

Which Pulsar auth method carries which kinds (`METHOD_KINDS`) is known here too: the broker plugin names the
kind its authentication reported for a connection, and `claimed_kind_problem` checks that claim against the
method and the principal before an audit record repeats it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from enum import StrEnum

from meshgate.principal.codes import PrincipalCode, fail

SSO_PREFIX = "oidc:"
_SPIFFE_PREFIX = "spiffe:"


class CredentialKind(StrEnum):
    X509_SVID = "x509_svid"  # SPIFFE URI SAN in a client certificate
    LINKERD_CERT = "linkerd_cert"  # Linkerd DNS-form identity in a client certificate
    L5D_HEADER = "l5d_header"  # l5d-client-id header from the local Linkerd proxy (HTTP only)
    OIDC = "oidc"  # JWT from an SSO issuer
    K8S_SA_TOKEN = "k8s_sa_token"  # projected Kubernetes service-account token
    JWT_SVID = "jwt_svid"  # SPIFFE JWT-SVID (e.g. from SPIRE) from a `kind: spiffe` issuer
    ROLE = "role"  # a plain Pulsar role from another provider, not verified by meshgate


class Namespace(StrEnum):
    SPIFFE = "spiffe"
    SSO = "sso"
    PLAIN = "plain"


PRODUCES = {
    CredentialKind.X509_SVID: Namespace.SPIFFE,
    CredentialKind.LINKERD_CERT: Namespace.SPIFFE,
    CredentialKind.L5D_HEADER: Namespace.SPIFFE,
    CredentialKind.K8S_SA_TOKEN: Namespace.SPIFFE,
    CredentialKind.JWT_SVID: Namespace.SPIFFE,
    CredentialKind.OIDC: Namespace.SSO,
    CredentialKind.ROLE: Namespace.PLAIN,
}


# The Pulsar auth method (the shim's provider name) each kind arrives on.
METHOD_KINDS: Mapping[str, frozenset[CredentialKind]] = {
    "tls": frozenset({CredentialKind.X509_SVID, CredentialKind.LINKERD_CERT}),
    "token": frozenset({CredentialKind.OIDC, CredentialKind.K8S_SA_TOKEN, CredentialKind.JWT_SVID}),
    "l5d": frozenset({CredentialKind.L5D_HEADER}),
}
# What an audit record names when nothing says which credential proved a principal (e.g. a client behind a
# Pulsar proxy whose own credential the broker did not authenticate).
UNKNOWN_KIND = "unknown"
_KINDS = {kind.value: kind for kind in CredentialKind}


def claimed_kind_problem(claimed: str, auth_method: str, principal: str) -> str | None:
    """Why `claimed` cannot be the kind of credential that proved `principal` on `auth_method`, or None.
    An auth method meshgate does not provide (another provider's) is not checked."""
    kind = _KINDS.get(claimed)
    if kind is None or kind is CredentialKind.ROLE:
        known = ", ".join(k.value for k in CredentialKind if k is not CredentialKind.ROLE)
        return f"{claimed!r} is not a credential kind meshgate verifies ({known})"
    allowed = METHOD_KINDS.get(auth_method)
    if allowed is not None and kind not in allowed:
        carried = ", ".join(sorted(k.value for k in allowed))
        return f"auth method {auth_method!r} carries {carried}, not {claimed}"
    if namespace_of(principal) is not PRODUCES[kind]:
        return f"{claimed} credentials produce {_SHAPES[PRODUCES[kind]]}, not {_shown(principal)}"
    return None


def unverified_kind(principal: str) -> str:
    """The kind an audit record names for `principal` when no verified kind came with it: `role` for a plain
    Pulsar role (only another provider makes one), else `unknown`."""
    plain = principal and namespace_of(principal) is Namespace.PLAIN
    return CredentialKind.ROLE.value if plain else UNKNOWN_KIND


def namespace_of(principal: str) -> Namespace:
    if principal[: len(_SPIFFE_PREFIX)].lower() == _SPIFFE_PREFIX:
        return Namespace.SPIFFE
    if principal.startswith(SSO_PREFIX):
        return Namespace.SSO
    return Namespace.PLAIN


def check_principal(kind: CredentialKind, principal: str, superusers: Collection[str] = ()) -> str:
    """`principal` if a `kind` credential may produce it, else `principal_crosses_kind`."""
    found = namespace_of(principal)
    if found is not PRODUCES[kind]:
        fail(
            PrincipalCode.PRINCIPAL_CROSSES_KIND,
            f"{kind.value} credentials may not produce {_shown(principal)}: it is in the {found.value} "
            f"namespace, and {kind.value} principals are {_SHAPES[PRODUCES[kind]]}",
        )
    if found is Namespace.SSO and principal in superusers:
        fail(
            PrincipalCode.PRINCIPAL_CROSSES_KIND,
            f"SSO principal {_shown(principal)} is a configured super-user; an SSO login can never be one",
        )
    return principal


def sso_template_problem(template: str, fixed_start: str) -> str | None:
    """Why an SSO principal template could produce another kind's principal, or None. `fixed_start` is
    the text every rendering starts with (the template's literal text before its first placeholder)."""
    if fixed_start.startswith(SSO_PREFIX):
        return None
    return (
        f"{template!r} does not start with the literal {SSO_PREFIX!r}: SSO principals live in their own "
        f"namespace, so that no token can name a workload (spiffe://...), another provider's role or a "
        f'super-user; e.g. "{SSO_PREFIX}{{iss}}#{{sub}}"'
    )


def superuser_problem(superuser: str) -> str | None:
    """Why a configured super-user is one no credential may ever be (an SSO principal), or None."""
    if namespace_of(superuser) is not Namespace.SSO:
        return None
    return (
        f"{superuser!r} is an SSO principal ({SSO_PREFIX}...); an SSO login can never be a super-user: "
        f"grant it what it needs in policy (the `superuser` action answers the broker's isSuperUser)"
    )


_SHAPES = {
    Namespace.SPIFFE: "spiffe://<trust-domain>/...",
    Namespace.SSO: f"{SSO_PREFIX}...",
    Namespace.PLAIN: "neither spiffe:... nor oidc:...",
}


def _shown(principal: str) -> str:
    return repr(principal if len(principal) <= 256 else principal[:256] + "...")
