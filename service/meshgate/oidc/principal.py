"""Map verified claims to a principal string and to exposed attributes.

SSO issuers use a `PrincipalRule`: a template such as `"oidc:{iss}#{sub}"`, which must start with the literal
`oidc:` so that claims can never name another kind's principal (`meshgate.principal.kinds`). Kubernetes
issuers map `system:serviceaccount:<ns>:<sa>` to the workload's SPIFFE ID, and SPIFFE issuers (JWT-SVIDs)
take the SPIFFE ID in `sub` as it is, within their one trust domain (`meshgate.principal` owns the shapes).
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass

from meshgate.errors import AuthenticationError, ConfigError
from meshgate.oidc.reasons import Reason, fail
from meshgate.principal.k8snames import service_account_of
from meshgate.principal.kinds import SSO_PREFIX, sso_template_problem
from meshgate.principal.spiffeid import parse_spiffe_id, workload_id

_CLAIM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_MAX_VALUE = 1024


@dataclass(frozen=True, slots=True)
class PrincipalRule:
    """Literal text and claim placeholders, in order: `("oidc:", "{iss}", "#", "{sub}")` as parts."""

    source: str
    literals: tuple[str, ...]
    claims: tuple[str, ...]  # claims[i] follows literals[i]; len(literals) == len(claims) + 1

    def render(self, payload: Mapping[str, object]) -> str:
        out = [self.literals[0]]
        for claim, literal in zip(self.claims, self.literals[1:], strict=True):
            out += [claim_text(payload, claim), literal]
        return "".join(out)


def parse_principal_rule(source: str, where: str) -> PrincipalRule:
    if _CLAIM_NAME.fullmatch(source):
        raise ConfigError(
            f"{where}: {source!r} would copy the claim into the principal as it is, so a token could name "
            f"a workload or a super-user; SSO principals start with {SSO_PREFIX!r}: write "
            f'"{SSO_PREFIX}{{iss}}#{{{source}}}"'
        )
    literals, claims = _parts(source, where)
    if not claims:
        raise ConfigError(f'{where}: must be a template with a {{claim}}, e.g. "{SSO_PREFIX}{{iss}}#{{sub}}"')
    problem = sso_template_problem(source, literals[0])
    if problem:
        raise ConfigError(f"{where}: {problem}")
    if len(literals) == len(claims):
        literals.append("")
    return PrincipalRule(source, tuple(literals), tuple(claims))


def _parts(source: str, where: str) -> tuple[list[str], list[str]]:
    """The literal texts and the claim names of a template, in order."""
    literals: list[str] = []
    claims: list[str] = []
    try:
        parsed = list(string.Formatter().parse(source))
    except ValueError as exc:
        raise ConfigError(f"{where}: invalid template ({exc})") from None
    for literal, field, spec, conversion in parsed:
        if field is not None and (spec or conversion or not _CLAIM_NAME.fullmatch(field)):
            raise ConfigError(f"{where}: placeholder {{{field}}} must be a bare claim name")
        literals.append(literal)
        if field is not None:
            claims.append(field)
    return literals, claims


def claim_text(payload: Mapping[str, object], claim: str) -> str:
    value = payload.get(claim)
    if value is None:
        fail(Reason.MISSING_CLAIM, f"claim {claim!r} is required by the principal mapping")
    if not isinstance(value, str) or not value or len(value) > _MAX_VALUE or not value.isprintable():
        fail(Reason.BAD_CLAIM, f"claim {claim!r} must be a non-empty printable string")
    return value


def service_account_principal(sub: str, trust_domain: str) -> str:
    account = service_account_of(sub)
    if account is None:
        fail(Reason.BAD_CLAIM, "sub is not system:serviceaccount:<namespace>:<name>")
    return str(workload_id(trust_domain, *account))


def jwt_svid_principal(sub: str, trust_domain: str) -> str:
    """The SPIFFE ID in a JWT-SVID's `sub`, which must be a workload of the issuer's trust domain."""
    try:
        spiffe_id = parse_spiffe_id(sub)
    except AuthenticationError as err:
        fail(
            Reason.BAD_CLAIM,
            f"sub of a JWT-SVID must be a SPIFFE ID: {err.message.removeprefix('identity: ')}",
        )
    if not spiffe_id.member_of(trust_domain):
        fail(
            Reason.BAD_CLAIM,
            f"sub {sub!r} is outside trust domain {trust_domain!r}, the only one this issuer vouches for",
        )
    if not spiffe_id.path:
        fail(Reason.BAD_CLAIM, f"sub {sub!r} names the trust domain itself, not a workload")
    return str(spiffe_id)


def exposed_attributes(payload: Mapping[str, object], names: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Claims listed in `expose_claims`: a string or a list of strings; absent claims are left out."""
    out: dict[str, tuple[str, ...]] = {}
    for name in names:
        value = payload.get(name)
        if value is None:
            continue
        if isinstance(value, str):
            out[name] = (value,)
        elif isinstance(value, list) and len(value) <= 256 and all(isinstance(v, str) for v in value):
            out[name] = tuple(value)
        else:
            fail(Reason.BAD_CLAIM, f"claim {name!r} must be a string or a list of strings")
    return out
