"""`oidc:` subjects: callers whose token came from one issuer, matched by principal and claims, never by name
pattern. For a delegated token (an agent acting on behalf of someone: `meshgate.oidc.delegation`) the caller
is the agent, and conditions may name the person's claims (`subject.groups`) and the chain
(`delegation.subject`, `delegation.actors`): `meshgate.model` has the names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from meshgate.errors import PolicyError
from meshgate.model import DELEGATION_ACTORS, DELEGATION_SUBJECT, RESERVED_CLAIM_PREFIXES, SUBJECT_PREFIX
from meshgate.policy.patterns import NO_BINDINGS, Bindings
from meshgate.policy.subjects import Attributes, IndexKey
from meshgate.principal.kinds import Namespace, namespace_of

_SSO_ONLY = frozenset({Namespace.SSO})

Condition = tuple[str, frozenset[str]]  # (claim, values): the claim holds at least one of the values


@dataclass(frozen=True, slots=True)
class OidcSubject:
    """Callers whose token came from `issuer`, who are `principal` when it is set, and whose claims meet
    every condition. For a delegated token the caller is the agent, the conditions may name the person's
    claims (`subject.groups`) and the chain (`delegation.subject`, `delegation.actors`): `meshgate.model`."""

    issuer: str
    conditions: tuple[Condition, ...] = ()  # sorted by claim; all must hold
    principal: str = ""
    variables: frozenset[str] = frozenset()

    @property
    def text(self) -> str:
        """`oidc:<issuer>[groups=a,b]` as before; a principal, and what the agent acts for, spelled out:
        `oidc:<issuer>#deploy-bot acting for [groups=payments-admins]`."""
        own = [_condition_text(c, v) for c, v in self.conditions if not c.startswith(_ACTING_FOR)]
        acting = [_condition_text(c, v) for c, v in self.conditions if c.startswith(_ACTING_FOR)]
        text = self.principal or f"oidc:{self.issuer}"
        if self.principal and not self.principal.startswith(f"oidc:{self.issuer}#"):
            text += f" of {self.issuer}"
        return text + "".join(own) + (" acting for " + "".join(acting) if acting else "")

    @property
    def index_key(self) -> IndexKey:
        return ("issuer", self.issuer)

    @property
    def namespaces(self) -> frozenset[Namespace]:
        return _SSO_ONLY

    def match(self, principal: str, issuer: str, attributes: Attributes) -> Bindings | None:
        if issuer != self.issuer or (self.principal and principal != self.principal):
            return None
        for claim, values in self.conditions:
            if values.isdisjoint(attributes.get(claim, ())):
                return None
        return NO_BINDINGS

    def specialize(self, bindings: Bindings) -> str:
        return self.text


_ACTING_FOR = (SUBJECT_PREFIX, DELEGATION_SUBJECT)


def _condition_text(claim: str, values: frozenset[str]) -> str:
    return f"[{claim.removeprefix(SUBJECT_PREFIX)}={','.join(sorted(values))}]"


def oidc_subject(raw: Mapping[str, Any]) -> OidcSubject:
    """An `oidc:` subject from its schema-valid mapping: `claim`/`values` is one condition, `claims` any."""
    if "claim" in raw and "claims" in raw:
        raise PolicyError(
            "an oidc subject has either claim/values (one claim) or claims (several), not both: "
            f"move {raw['claim']!r} into claims"
        )
    conditions = dict(raw.get("claims", {}))
    if "claim" in raw:
        conditions[raw["claim"]] = raw["values"]
    for claim in conditions:
        _check_claim_name(claim)
    principal = raw.get("principal", "")
    if principal and namespace_of(principal) is not Namespace.SSO:
        raise PolicyError(
            f"principal {principal!r} of an oidc subject is not an SSO principal (oidc:...): name workloads "
            "with spiffe: or linkerd:, plain roles with role:"
        )
    ordered = tuple(sorted((claim, frozenset(values)) for claim, values in conditions.items()))
    return OidcSubject(raw["issuer"], ordered, principal)


def _check_claim_name(claim: str) -> None:
    """Names under the prefixes reserved for delegated tokens must be ones a verified chain sets."""
    if claim.startswith("delegation.") and claim not in (DELEGATION_SUBJECT, DELEGATION_ACTORS):
        raise PolicyError(
            f"claim {claim!r}: a delegated call has {DELEGATION_SUBJECT} (the person an agent acts for) "
            f"and {DELEGATION_ACTORS} (every actor, the caller first), "
            "no other claim starts with 'delegation.'"
        )
    rest = claim.removeprefix(SUBJECT_PREFIX)
    if rest != claim and (not rest or rest.startswith(RESERVED_CLAIM_PREFIXES)):
        raise PolicyError(
            f"claim {claim!r}: subject.<claim> names a claim of the person an agent acts for, "
            "e.g. subject.groups"
        )
