"""Who a rule applies to: SPIFFE IDs and patterns, Linkerd identity names, OIDC claims, plain roles, and
everyone (of one credential kind, or of all), with exceptions (`except:` on a rule).

Every subject answers `match(principal, issuer, attributes)` with the values it captured, or None.
Linkerd DNS-form names are translated once, at compile time, to the canonical SPIFFE form
`spiffe://<trust-domain>/ns/<ns>/sa/<sa>` that principals are matched in (`meshgate.principal.linkerd`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from meshgate.errors import PolicyError
from meshgate.policy.patterns import (
    NO_BINDINGS,
    STAR,
    Bindings,
    Capture,
    SegmentPattern,
    glob_match,
    parse_segment,
)
from meshgate.principal.kinds import Namespace, namespace_of
from meshgate.principal.linkerd import LinkerdNaming, linkerd_to_spiffe
from meshgate.principal.spiffeid import SCHEME

Attributes = Mapping[str, tuple[str, ...]]
IndexKey = tuple[Literal["exact", "issuer", "pattern"], str]
_SCHEME_LEN = len(SCHEME)


class Subject(Protocol):
    @property
    def text(self) -> str: ...
    @property
    def variables(self) -> frozenset[str]: ...
    @property
    def index_key(self) -> IndexKey: ...
    def match(self, principal: str, issuer: str, attributes: Attributes) -> Bindings | None: ...
    def specialize(self, bindings: Bindings) -> str: ...


@dataclass(frozen=True, slots=True)
class ExactSubject:
    """One principal string: a SPIFFE ID without wildcards, a translated Linkerd name, or a Pulsar role."""

    text: str
    principal: str
    variables: frozenset[str] = frozenset()

    @property
    def index_key(self) -> IndexKey:
        return ("exact", self.principal)

    def match(self, principal: str, issuer: str, attributes: Attributes) -> Bindings | None:
        return NO_BINDINGS if principal == self.principal else None

    def specialize(self, bindings: Bindings) -> str:
        return self.text


# How one segment of a SPIFFE pattern is checked: (literal, capture name, glob pieces); all None: `*`.
_Step = tuple[str | None, str | None, tuple[str, ...] | None]


def _step(segment: SegmentPattern) -> _Step:
    token = segment.tokens[0]
    if isinstance(token, Capture):
        return None, token.name, None
    if segment.literal is not None:
        return segment.literal, None, None
    return None, None, None if segment.tokens == (STAR,) else segment.pieces


@dataclass(frozen=True, slots=True)
class SpiffePattern:
    """`spiffe://td/ns/*/sa/{sa}`: each segment a glob; a capture must be a whole segment."""

    text: str
    segments: tuple[SegmentPattern, ...]
    variables: frozenset[str]
    steps: tuple[_Step, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", tuple(_step(s) for s in self.segments))

    @property
    def index_key(self) -> IndexKey:
        return ("pattern", "")

    def match(self, principal: str, issuer: str, attributes: Attributes) -> Bindings | None:
        if not principal.startswith(SCHEME):
            return None
        parts = principal[_SCHEME_LEN:].split("/")
        if len(parts) != len(self.steps):
            return None
        bound: dict[str, str] = {}
        for (literal, capture, pieces), part in zip(self.steps, parts, strict=True):
            if literal is not None:
                if part != literal:
                    return None
            elif capture is not None:
                if not part or bound.setdefault(capture, part) != part:
                    return None
            elif pieces is not None and not glob_match(pieces, part):
                return None
        return bound

    def specialize(self, bindings: Bindings) -> str:
        return SCHEME + "/".join(s.substitute(bindings) for s in self.segments)


@dataclass(frozen=True, slots=True)
class OidcSubject:
    """Callers whose token came from `issuer` and, if `claim` is set, carries one of `values` in it."""

    issuer: str
    claim: str = ""
    values: frozenset[str] = frozenset()
    variables: frozenset[str] = frozenset()

    @property
    def text(self) -> str:
        values = ",".join(sorted(self.values))
        return f"oidc:{self.issuer}" + (f"[{self.claim}={values}]" if self.claim else "")

    @property
    def index_key(self) -> IndexKey:
        return ("issuer", self.issuer)

    def match(self, principal: str, issuer: str, attributes: Attributes) -> Bindings | None:
        if issuer != self.issuer:
            return None
        if self.claim and self.values.isdisjoint(attributes.get(self.claim, ())):
            return None
        return NO_BINDINGS

    def specialize(self, bindings: Bindings) -> str:
        return self.text


def spiffe_subject(text: str) -> Subject:
    if not text.startswith(SCHEME):
        raise PolicyError(f"{text!r} is not a SPIFFE ID: it must start with {SCHEME}")
    segments = tuple(parse_segment(part) for part in text[_SCHEME_LEN:].split("/"))
    for segment in segments:
        if segment.variables and len(segment.tokens) != 1:
            raise PolicyError(f"{text!r}: a capture must be a whole path segment, like /ns/{{ns}}/")
    variables = frozenset().union(*(s.variables for s in segments))
    if all(s.literal is not None for s in segments):
        return ExactSubject(text, text)
    names = [t.name for s in segments for t in s.tokens if isinstance(t, Capture)]
    if len(names) != len(set(names)):
        raise PolicyError(f"{text!r} captures the same name twice")
    return SpiffePattern(text, segments, variables)


def linkerd_subject(name: str, naming: LinkerdNaming) -> Subject:
    if "{" in name:
        raise PolicyError(f"{name!r}: Linkerd names cannot capture; use a spiffe:// pattern")
    translated = spiffe_subject(linkerd_to_spiffe(name, naming))
    if isinstance(translated, ExactSubject):
        return ExactSubject(f"linkerd:{name}", translated.principal)
    assert isinstance(translated, SpiffePattern)
    return SpiffePattern(f"linkerd:{name}", translated.segments, translated.variables)


def role_subject(role: str) -> Subject:
    if not role or role != role.strip():
        raise PolicyError(f"{role!r} is not a role: it is empty or has surrounding spaces")
    return ExactSubject(f"role:{role}", role)


# `everyone:` values: every principal, or every principal of one kind (meshgate.principal.kinds).
EVERYONE: Mapping[str, Namespace | None] = {
    "all": None,
    "spiffe": Namespace.SPIFFE,  # workloads: X.509-SVID, Linkerd, Kubernetes service-account tokens
    "sso": Namespace.SSO,  # SSO logins (oidc:...)
    "role": Namespace.PLAIN,  # plain roles of another authentication provider
}
_KIND_WORDS = {
    None: "every principal",
    Namespace.SPIFFE: "every SPIFFE workload",
    Namespace.SSO: "every SSO login",
    Namespace.PLAIN: "every plain role",
}


@dataclass(frozen=True, slots=True)
class EveryoneSubject:
    """Every principal the broker asks about (`everyone: all`), or every one of one credential kind.
    Configured super-users are decided before any rule, so no rule, this one included, reaches them."""

    kind: str
    namespace: Namespace | None
    variables: frozenset[str] = frozenset()

    @property
    def text(self) -> str:
        return "everyone" if self.namespace is None else f"everyone:{self.kind}"

    @property
    def words(self) -> str:
        return _KIND_WORDS[self.namespace]

    @property
    def index_key(self) -> IndexKey:
        return ("pattern", "")

    def match(self, principal: str, issuer: str, attributes: Attributes) -> Bindings | None:
        if not principal or (self.namespace is not None and namespace_of(principal) is not self.namespace):
            return None
        return NO_BINDINGS

    def specialize(self, bindings: Bindings) -> str:
        return self.text


def everyone_subject(kind: str) -> Subject:
    return EveryoneSubject(kind, EVERYONE[kind])


def namespaces_of(subject: Subject) -> frozenset[Namespace]:
    """The principal namespaces `subject` can match (all three for `everyone: all`)."""
    if isinstance(subject, EveryoneSubject):
        return frozenset(Namespace) if subject.namespace is None else frozenset({subject.namespace})
    if isinstance(subject, OidcSubject):
        return frozenset({Namespace.SSO})
    if isinstance(subject, SpiffePattern):
        return frozenset({Namespace.SPIFFE})
    assert isinstance(subject, ExactSubject)
    return frozenset({namespace_of(subject.principal)})


def with_exceptions(subject: Subject, excepted: tuple[Subject, ...]) -> str:
    """How who-can, diff, report and explain show a rule's subject: `everyone except role:dlq`."""
    if not excepted:
        return subject.text
    return f"{subject.text} except {', '.join(e.text for e in excepted)}"
