"""An index over compiled rules so a decision looks only at rules that could match.

A rule is filed once under each (tenant, subject key) its subjects and resources give: the literal tenant
of a resource pattern (or "any tenant") and the subject's key: an exact principal, an OIDC issuer, or a
SPIFFE pattern. A lookup keeps the rules that have the action (one probe of the rule's shared action set);
the caller then checks each (subject, resource) pair of those rules, as a scan of every rule would.
Patterns are filed under their leading literal path segments (`spiffe://td/ns/payments/sa/*` under
`td/ns/payments/sa`), so a principal meets only the patterns that share its prefix; patterns without a
literal first segment stay in a short list. A lookup touches at most two tenant buckets and, in each, a
few dict probes; its cost does not grow with unrelated rules.

Memory: 100,000 rules are 100,000 dict slots here. A key that files one rule holds the rule itself, a key
that files several an exact-size tuple (no entry objects, no one-element tuples: ~130 B per rule less).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from meshgate.policy.compile import CompiledRule
from meshgate.policy.subjects import Held, Subject
from meshgate.principal.spiffeid import SCHEME

# What one key files: one rule, or (once frozen) a tuple of them; a list while the index is built.
Filed = CompiledRule | tuple[CompiledRule, ...] | list[CompiledRule]
# Which table of a bucket, and the key in it.
Place = tuple[Literal["exact", "issuer", "prefixed"], str | tuple[int, str] | None]
K = TypeVar("K")


def _file(table: dict[K, Filed], key: K, rule: CompiledRule) -> None:
    found = table.get(key)
    if found is None:
        table[key] = rule
    elif type(found) is list:
        found.append(rule)
    else:
        assert isinstance(found, CompiledRule)
        table[key] = [found, rule]


def _freeze(table: dict[K, Filed]) -> None:
    """Lists become tuples of their exact size: a list keeps room to grow (~40 B more per key)."""
    for key, found in table.items():
        if type(found) is list:
            table[key] = tuple(found)


def _add_to(out: list[CompiledRule], found: Filed | None) -> None:
    if found is None:
        return
    if type(found) is tuple:
        out += found
    else:
        out.append(found)  # type: ignore[arg-type]


def literal_prefix(subject: Subject) -> tuple[int, str]:
    """(k, "seg1/.../segk"): the leading segments of a SPIFFE pattern that have no wildcard or capture."""
    literals: list[str] = []
    for literal, _, _ in getattr(subject, "steps", ()):  # a SpiffePattern's: (literal, capture, pieces)
        if literal is None:
            break
        literals.append(literal)
    return len(literals), "/".join(literals)


@dataclass(slots=True)
class _Bucket:
    exact: dict[str, Filed] = field(default_factory=dict)
    issuers: dict[str, Filed] = field(default_factory=dict)
    prefixed: dict[tuple[int, str], Filed] = field(default_factory=dict)
    prefix_lengths: tuple[int, ...] = ()
    patterns: list[CompiledRule] = field(default_factory=list)

    def add(self, rule: CompiledRule, place: Place) -> None:
        table, key = place
        if isinstance(key, str):
            _file(self.exact if table == "exact" else self.issuers, key, rule)
        elif key is None:
            self.patterns.append(rule)
        else:
            _file(self.prefixed, key, rule)
            if key[0] not in self.prefix_lengths:
                self.prefix_lengths = tuple(sorted({*self.prefix_lengths, key[0]}))

    def freeze(self) -> None:
        _freeze(self.exact)
        _freeze(self.issuers)
        _freeze(self.prefixed)

    def collect(self, principal: str, issuer: str, out: list[CompiledRule]) -> None:
        """Append the rules that could match `principal` (exact, issuer, prefixed, other patterns)."""
        found = self.exact.get(principal)
        if found is not None:
            _add_to(out, found)
        if issuer:
            _add_to(out, self.issuers.get(issuer))
        if self.prefix_lengths and principal.startswith(SCHEME):
            parts = principal[len(SCHEME) :].split("/")
            for length in self.prefix_lengths:
                _add_to(out, self.prefixed.get((length, "/".join(parts[:length]))))
        out += self.patterns


_ANY_TENANT = None


def place_of(subject: Held) -> Place:
    """Where a subject is filed in a bucket: under its principal, its issuer, or its literal prefix
    (None: the short list of patterns without one)."""
    if isinstance(subject, str):  # an exact SPIFFE ID, as a rule holds it
        return "exact", subject
    kind, key = subject.index_key
    if kind != "pattern":
        return kind, key
    length, prefix = literal_prefix(subject)
    return "prefixed", (length, prefix) if length else None


def _filings(rule: CompiledRule) -> dict[tuple[str | None, Place], None]:
    """The distinct (tenant, place) pairs `rule` is filed under, in order."""
    held = rule.held_subjects
    places = [place_of(subject) for subject in (held if isinstance(held, tuple) else (held,))]
    return {(resource.tenant_literal, place): None for place in places for resource in rule.resources}


class RuleIndex:
    """Built once per revision; read-only afterwards, so it is safe to share between threads."""

    def __init__(self, rules: Iterable[CompiledRule]) -> None:
        self._buckets: dict[str | None, _Bucket] = {}
        for rule in rules:
            for tenant, place in _filings(rule):
                self._bucket(tenant).add(rule, place)
        for bucket in self._buckets.values():
            bucket.freeze()

    def _bucket(self, tenant: str | None) -> _Bucket:
        bucket = self._buckets.get(tenant)
        if bucket is None:
            bucket = self._buckets[tenant] = _Bucket()
        return bucket

    def candidates(self, action: str, tenant: str, principal: str, issuer: str) -> list[CompiledRule]:
        """Every rule that has `action` and could match (a rule may come twice); the caller still checks
        subject, resource and subscription."""
        out: list[CompiledRule] = []
        bucket = self._buckets.get(tenant)
        if bucket is not None:
            bucket.collect(principal, issuer, out)
        bucket = self._buckets.get(_ANY_TENANT)
        if bucket is not None:
            bucket.collect(principal, issuer, out)
        return [rule for rule in out if action in rule.actions]
