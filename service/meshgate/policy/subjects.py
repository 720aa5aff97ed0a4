"""Who a rule applies to: SPIFFE IDs and patterns, Linkerd identity names, plain roles, and everyone (of one
credential kind, or of all, or every agent), with exceptions (`except:` on a rule). OIDC subjects, matched
by issuer and claims, are in `meshgate.policy.oidcsubject`.

Every subject answers `match(principal, issuer, attributes)` with the values it captured, or None.
Linkerd DNS-form names are translated once, at compile time, to the canonical SPIFFE form
`spiffe://<trust-domain>/ns/<ns>/sa/<sa>` that principals are matched in (`meshgate.principal.linkerd`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, Protocol

from meshgate.errors import PolicyError
from meshgate.model import DELEGATION_ACTORS
from meshgate.policy.patterns import (
    NO_BINDINGS,
    NO_VARIABLES,
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
_SPIFFE_ONLY = frozenset({Namespace.SPIFFE})


class Subject(Protocol):
    @property
    def text(self) -> str: ...
    @property
    def variables(self) -> frozenset[str]: ...
    @property
    def index_key(self) -> IndexKey: ...
    @property
    def namespaces(self) -> frozenset[Namespace]:
        """The principal namespaces it can match (all three for `everyone: all`)."""
        ...

    def match(self, principal: str, issuer: str, attributes: Attributes) -> Bindings | None: ...
    def specialize(self, bindings: Bindings) -> str: ...


@dataclass(frozen=True, slots=True)
class ExactSubject:
    """One principal string: a SPIFFE ID without wildcards, shown as it is (`LabelledSubject`: a
    translated Linkerd name or a Pulsar role). One slot: ~80,000 of them at 100,000 rules."""

    principal: str

    @property
    def text(self) -> str:
        return self.principal

    @property
    def variables(self) -> frozenset[str]:
        return NO_VARIABLES

    @property
    def index_key(self) -> IndexKey:
        return ("exact", self.principal)

    @property
    def namespaces(self) -> frozenset[Namespace]:
        return frozenset({namespace_of(self.principal)})

    def match(self, principal: str, issuer: str, attributes: Attributes) -> Bindings | None:
        return NO_BINDINGS if principal == self.principal else None

    def specialize(self, bindings: Bindings) -> str:
        return self.text


# A subject as a rule holds it: an exact SPIFFE ID as its plain string (no object beside the text: ~80,000
# of them at 100,000 rules), any other subject as itself.
Held = Subject | str


def subject_of(held: Held) -> Subject:
    """The subject a rule holds as `held` (an exact SPIFFE ID string becomes an ExactSubject)."""
    return ExactSubject(held) if isinstance(held, str) else held


def held(subject: Subject) -> Held:
    """How a rule holds `subject`: an exact SPIFFE ID (not a role, not a Linkerd name) as its string."""
    return subject.principal if type(subject) is ExactSubject else subject


@dataclass(frozen=True, slots=True)
class LabelledSubject(ExactSubject):
    """One principal, shown as the policy named it: `linkerd:<name>` (`principal` its SPIFFE ID) or
    `role:<role>`."""

    label: str

    @property
    def text(self) -> str:
        return self.label


# How one segment of a SPIFFE pattern is checked: (literal, capture name, glob pieces); all None: `*`.
_Step = tuple[str | None, str | None, tuple[str, ...] | None]


@lru_cache(maxsize=4096)  # one step per distinct segment, shared by the patterns that repeat it
def _step(segment: SegmentPattern) -> _Step:
    token = segment.tokens[0]
    if isinstance(token, Capture):
        return None, token.name, None
    if segment.literal is not None:
        return segment.literal, None, None
    return None, None, None if segment.tokens == (STAR,) else segment.pieces


@dataclass(frozen=True, slots=True)
class SpiffePattern:
    """`spiffe://td/ns/*/sa/{sa}`: each segment a glob; a capture must be a whole segment. It keeps how
    each segment is checked (`steps`), not the segments: `segments` parses them again from the text when
    asked (who-can, lint), ~22 B a rule less at 100,000 rules."""

    text: str
    variables: frozenset[str]
    steps: tuple[_Step, ...]

    @classmethod
    def of(cls, text: str, segments: tuple[SegmentPattern, ...], variables: frozenset[str]) -> SpiffePattern:
        return cls(text, variables, tuple(_step(s) for s in segments))

    @property
    def pattern(self) -> str:
        """The `spiffe://` pattern it matches (a Linkerd name's is its translation)."""
        return self.text

    @property
    def segments(self) -> tuple[SegmentPattern, ...]:
        return tuple(parse_segment(part) for part in self.pattern[_SCHEME_LEN:].split("/"))

    @property
    def index_key(self) -> IndexKey:
        return ("pattern", "")

    @property
    def namespaces(self) -> frozenset[Namespace]:
        return _SPIFFE_ONLY

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
class LinkerdPattern(SpiffePattern):
    """`linkerd:<name>` with a wildcard: shown as written, matched as the SPIFFE pattern it translates to."""

    spiffe: str

    @property
    def pattern(self) -> str:
        return self.spiffe


# A SPIFFE ID without wildcards or captures: non-empty segments of what `parse_segment` reads as literal text.
_EXACT_PATH = re.compile(r"[^\s/*{}]+(?:/[^\s/*{}]+)*")


def spiffe_subject(text: str) -> Subject:
    if not text.startswith(SCHEME):
        raise PolicyError(f"{text!r} is not a SPIFFE ID: it must start with {SCHEME}")
    if _EXACT_PATH.fullmatch(text, _SCHEME_LEN):  # most subjects: no segment to parse
        return ExactSubject(text)
    segments = tuple(parse_segment(part) for part in text[_SCHEME_LEN:].split("/"))
    for segment in segments:
        if segment.variables and len(segment.tokens) != 1:
            raise PolicyError(f"{text!r}: a capture must be a whole path segment, like /ns/{{ns}}/")
    variables = frozenset().union(*(s.variables for s in segments)) or NO_VARIABLES
    if all(s.literal is not None for s in segments):
        return ExactSubject(text)
    names = [t.name for s in segments for t in s.tokens if isinstance(t, Capture)]
    if len(names) != len(set(names)):
        raise PolicyError(f"{text!r} captures the same name twice")
    return SpiffePattern.of(text, segments, variables)


def linkerd_subject(name: str, naming: LinkerdNaming) -> Subject:
    if "{" in name:
        raise PolicyError(f"{name!r}: Linkerd names cannot capture; use a spiffe:// pattern")
    translated = spiffe_subject(linkerd_to_spiffe(name, naming))
    if isinstance(translated, ExactSubject):
        return LabelledSubject(translated.principal, f"linkerd:{name}")
    assert isinstance(translated, SpiffePattern)
    return LinkerdPattern(f"linkerd:{name}", translated.variables, translated.steps, translated.text)


def role_subject(role: str) -> Subject:
    if not role or role != role.strip():
        raise PolicyError(f"{role!r} is not a role: it is empty or has surrounding spaces")
    return LabelledSubject(role, f"role:{role}")


# `everyone:` values: every principal, or every principal of one kind (meshgate.principal.kinds), or every
# agent acting on behalf of someone (a delegated SSO token: `meshgate.oidc.delegation`).
EVERYONE: Mapping[str, Namespace | None] = {
    "all": None,
    "spiffe": Namespace.SPIFFE,  # workloads: X.509-SVID, Linkerd, Kubernetes service-account tokens
    "sso": Namespace.SSO,  # SSO logins (oidc:...)
    "role": Namespace.PLAIN,  # plain roles of another authentication provider
    "agents": Namespace.SSO,  # SSO callers acting for someone else (a delegated token)
}
AGENTS = "agents"
_KIND_WORDS = {
    None: "every principal",
    Namespace.SPIFFE: "every SPIFFE workload",
    Namespace.SSO: "every SSO login",
    Namespace.PLAIN: "every plain role",
}


@dataclass(frozen=True, slots=True)
class EveryoneSubject:
    """Every principal the broker asks about (`everyone: all`), or every one of one credential kind, or
    (`everyone: agents`) every SSO caller acting on behalf of someone: its verified token has a chain.
    Configured super-users are decided before any rule, so no rule, this one included, reaches them.

    `unverified_too` (`agents` in a deny rule): also an SSO caller whose token the request does not carry
    verified (no issuer), since it may be an agent: a deny for agents never gets weaker than the allow it
    guards when the broker cannot pass the credential on."""

    kind: str
    namespace: Namespace | None
    variables: frozenset[str] = frozenset()
    unverified_too: bool = False

    @property
    def text(self) -> str:
        return "everyone" if self.namespace is None else f"everyone:{self.kind}"

    @property
    def words(self) -> str:
        if self.kind == AGENTS:
            return "every agent acting on behalf of someone (a delegated SSO token)"
        return _KIND_WORDS[self.namespace]

    @property
    def index_key(self) -> IndexKey:
        return ("pattern", "")

    @property
    def namespaces(self) -> frozenset[Namespace]:
        return frozenset(Namespace) if self.namespace is None else frozenset({self.namespace})

    def match(self, principal: str, issuer: str, attributes: Attributes) -> Bindings | None:
        if not principal or (self.namespace is not None and namespace_of(principal) is not self.namespace):
            return None
        if self.kind == AGENTS and DELEGATION_ACTORS not in attributes:
            return NO_BINDINGS if self.unverified_too and not issuer else None
        return NO_BINDINGS

    def specialize(self, bindings: Bindings) -> str:
        return self.text


def everyone_subject(kind: str, *, deny: bool = False) -> Subject:
    """`deny`: the subject of a deny rule (there `agents` also covers callers whose chain is unknown)."""
    return EveryoneSubject(kind, EVERYONE[kind], unverified_too=deny and kind == AGENTS)


def namespaces_of(subject: Subject) -> frozenset[Namespace]:
    """The principal namespaces `subject` can match (all three for `everyone: all`)."""
    return subject.namespaces


def with_exceptions(subject: Subject, excepted: tuple[Subject, ...], shown: str | None = None) -> str:
    """How who-can, diff, report and explain show a rule's subject: `everyone except role:dlq`; `shown`
    replaces the subject's own text (who-can writes it with the resource's captures filled in)."""
    text = subject.text if shown is None else shown
    if not excepted:
        return text
    return f"{text} except {', '.join(e.text for e in excepted)}"
