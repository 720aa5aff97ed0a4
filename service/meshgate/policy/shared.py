"""Subjects, resource patterns and subscription patterns from their YAML, each made once per compile.

Rules repeat them: a namespace's readers name the same topic glob, a writer is in an allow and a deny.
`Shared` makes each distinct one once and hands out the same object, and the same tuple of it, to every
rule that writes it; everything it hands out is immutable.
"""

from __future__ import annotations

from typing import Any, TypeVar

from meshgate.policy.oidcsubject import oidc_subject
from meshgate.policy.patterns import SegmentPattern, parse_segment
from meshgate.policy.resources import ResourcePattern, parse_resource_pattern
from meshgate.policy.subjects import (
    Held,
    Subject,
    everyone_subject,
    held,
    linkerd_subject,
    role_subject,
    spiffe_subject,
)
from meshgate.principal.linkerd import LinkerdNaming

T = TypeVar("T")


def compile_subject(raw: dict[str, Any], naming: LinkerdNaming, *, deny: bool = False) -> Subject:
    """`deny`: a subject of a deny rule (`everyone: agents` then also covers callers of unknown chain)."""
    if "everyone" in raw:
        return everyone_subject(raw["everyone"], deny=deny)
    if "spiffe" in raw:
        return spiffe_subject(raw["spiffe"])
    if "linkerd" in raw:
        return linkerd_subject(raw["linkerd"], naming)
    if "role" in raw:
        return role_subject(raw["role"])
    return oidc_subject(raw["oidc"])


class _Text:
    """Finds a resource pattern in a dict keyed by patterns, by the text it was written as: it hashes as
    the text and equals the pattern of that text (`ResourcePattern.__hash__` is its text's)."""

    __slots__ = ("_hash", "text")

    def __init__(self, text: str) -> None:
        self.text, self._hash = text, hash(text)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ResourcePattern) and other.text == self.text


class Shared:
    """Values that rules repeat, made once per compile and shared: the subjects, resource patterns and
    subscription patterns of the same text, and the same tuples of several (a reader's
    `persistent://t/ns/*` is one object however many rules name it). A rule holds a subject or resource
    it has only one of as itself, not in a tuple of its own (`join`): ~80 B a rule at 100,000 rules.
    Its keys are texts the values keep anyway, or the values themselves: keys made for the purpose
    (tuples of object ids, the YAML text of a pattern that keeps no text) would all go when the compile
    ends and leave holes in the allocator's pools among the rules, ~20 MB of RSS at 100,000 rules. A
    resource pattern is its own key, found by its text (`_Text`). Only successes are kept: a bad subject
    or resource is parsed again, and reported, wherever it is written."""

    def __init__(self, naming: LinkerdNaming) -> None:
        self.naming = naming
        self._subjects: dict[tuple[str, bool], dict[str, Held]] = {}
        self._resources: dict[ResourcePattern | _Text, ResourcePattern] = {}
        self._segments: dict[str, SegmentPattern] = {}
        self._tuples: dict[tuple[int, ...], tuple[Any, ...]] = {}

    def subject(self, raw: dict[str, Any], deny: bool) -> Held:
        """`deny`: for a deny rule (`everyone: agents` covers more there). As the rule holds it
        (`meshgate.policy.subjects.held`)."""
        ((kind, value),) = raw.items()
        if not isinstance(value, str):  # oidc: a mapping, rare enough not to share
            return compile_subject(raw, self.naming, deny=deny)
        key = (kind, deny and kind == "everyone")  # only `everyone` reads differently in a deny
        of_kind = self._subjects.get(key)
        if of_kind is None:
            of_kind = self._subjects[key] = {}
        found = of_kind.get(value)
        if found is None:
            found = of_kind[value] = held(compile_subject(raw, self.naming, deny=deny))
        return found

    def resource(self, text: str) -> ResourcePattern:
        found = self._resources.get(_Text(text))
        if found is None:
            found = parse_resource_pattern(text)
            self._resources[found] = found
        return found

    def subscription(self, text: str) -> SegmentPattern:
        found = self._segments.get(text)
        if found is None:
            found = parse_segment(text)
            self._segments[found.text] = found  # a key the pattern keeps anyway
        return found

    def join(self, values: list[T]) -> T | tuple[T, ...]:
        """One value (from this table) as itself, several as the one tuple of them, in order; none as ()."""
        if len(values) == 1:
            return values[0]
        return self.tuple_of(values)

    def tuple_of(self, values: list[T]) -> tuple[T, ...]:
        """The one tuple of `values` (from this table), in order."""
        if not values:
            return ()
        key = tuple(map(id, values))
        found = self._tuples.get(key)
        if found is None:
            found = self._tuples[key] = tuple(values)  # holds the values, so their ids stay theirs
        return found
