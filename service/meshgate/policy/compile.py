"""Compile schema-valid AccessPolicy documents into immutable rules.

Checks what the schema cannot: action names, subject and resource syntax, captures used but not
captured by every subject, deny rules narrowed to subscriptions, and duplicate rule ids. Every problem
is reported as `file:line: what is wrong`; the caller decides to reject the whole revision.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal, TypeVar

from meshgate.errors import PolicyError
from meshgate.policy.actions import SUBSCRIPTION_ACTIONS, expand_patterns
from meshgate.policy.patterns import SegmentPattern
from meshgate.policy.resources import ResourcePattern
from meshgate.policy.shared import Shared, compile_subject
from meshgate.policy.subjects import EveryoneSubject, Held, Subject, namespaces_of, subject_of
from meshgate.policy.yamlsrc import JsonPath, SourceDoc
from meshgate.principal.linkerd import LinkerdNaming

Effect = Literal["allow", "deny"]
T = TypeVar("T")


class RuleFile:
    """The ids and lines of one file's rules, kept as columns: one string of every id back to back with
    the end of each (`array`), and the lines (`array`): ~30 B a rule where an id string and a line
    number of its own were ~95 B. Filled while the file compiles (`add`, `drop`), then `seal`ed;
    read-only afterwards."""

    __slots__ = ("_ends", "_ids", "_lines", "file")

    def __init__(self, file: str) -> None:
        self.file = file
        self._ids: str | list[str] = []
        self._ends = array("I")
        self._lines = array("I")

    def add(self, rule_id: str, line: int) -> int:
        """Files the next rule's id and line; returns its index."""
        assert isinstance(self._ids, list), "a sealed RuleFile takes no rules"
        self._ids.append(rule_id)
        self._lines.append(line)
        return len(self._lines) - 1

    def drop(self) -> None:
        """Forgets the rule `add` filed last (it had errors: the next rule takes its index)."""
        assert isinstance(self._ids, list)
        self._ids.pop()
        self._lines.pop()

    def seal(self) -> None:
        ids = self._ids
        if isinstance(ids, list):
            end = 0
            for rule_id in ids:
                end += len(rule_id)
                self._ends.append(end)
            self._ids = "".join(ids)

    def id(self, index: int) -> str:
        ids = self._ids
        if isinstance(ids, list):
            return ids[index]
        return ids[self._ends[index - 1] if index else 0 : self._ends[index]]

    def line(self, index: int) -> int:
        return self._lines[index]

    def __len__(self) -> int:
        return len(self._lines)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RuleFile):
            return NotImplemented
        return self.file == other.file and [*map(self.id, range(len(self)))] == [
            *map(other.id, range(len(other)))
        ]

    def __hash__(self) -> int:
        return hash(self.file)

    def __repr__(self) -> str:
        return f"RuleFile({self.file!r}, {len(self)} rules)"


class ActionSet(frozenset[str]):
    """A rule's concrete actions, and the action list they were written as (`patterns`): one object, so
    a rule keeps both in one slot. Equal to the plain set of the same actions."""

    __slots__ = ("patterns",)
    patterns: tuple[str, ...]

    @classmethod
    def of(cls, patterns: tuple[str, ...], actions: frozenset[str]) -> ActionSet:
        made = cls(actions)
        made.patterns = patterns
        return made


# CompiledRule.mode: ALLOW or DENY, + AUDIT for an audit-only rule.
ALLOW, DENY, AUDIT = 0, 1, 2
_BY_MODE: tuple[Effect, Effect] = ("allow", "deny")


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """One rule, as small as it can be: 100,000 of them stay in memory. Its file, id and line are kept
    by its file's `RuleFile` (columns), its position and `file:line` derived on demand; rules of a file
    left unchanged are reused by the next revision as they are (`meshgate.policy.loader`)."""

    source: RuleFile  # the file's ids and lines
    index: int  # position among the rules of its file
    mode: int  # 1 for deny (else allow), + 2 if audit-only: see `effect` and `audit`
    # One subject as itself (an exact SPIFFE ID as its string), several in a tuple: read `subjects`.
    held_subjects: Held | tuple[Held, ...]
    actions: ActionSet  # with the action list as written (`action_patterns`)
    # One resource pattern as itself, several in a tuple: read `resources`.
    held_resources: ResourcePattern | tuple[ResourcePattern, ...]
    subscriptions: tuple[SegmentPattern, ...] | None  # None: any subscription
    excepted: tuple[Subject, ...] = ()  # `except:`: principals these match are not the rule's subjects

    @property
    def subjects(self) -> tuple[Subject, ...]:
        """Who the rule is for (made on each call: decisions read `held_subjects`)."""
        held = self.held_subjects
        return tuple(map(subject_of, held if isinstance(held, tuple) else (held,)))

    @property
    def resources(self) -> tuple[ResourcePattern, ...]:
        """The resource patterns, in order (decisions read `held_resources`)."""
        held = self.held_resources
        return held if isinstance(held, tuple) else (held,)

    @property
    def effect(self) -> Effect:
        return _BY_MODE[self.mode & DENY]

    @property
    def audit(self) -> bool:
        """Audit-only: what it would decide is reported, and nothing is decided by it."""
        return self.mode >= AUDIT

    @property
    def action_patterns(self) -> tuple[str, ...]:
        return self.actions.patterns

    @property
    def file(self) -> str:
        """The path relative to the policy folder."""
        return self.source.file

    @property
    def id(self) -> str:
        """`<file>#<rule-name>`, as every decision by the rule reports it."""
        return self.source.id(self.index)

    @property
    def line(self) -> int:
        """Of the rule in its file."""
        return self.source.line(self.index)

    @property
    def name(self) -> str:
        return self.id[len(self.file) + 1 :]

    @property
    def order(self) -> tuple[str, int]:
        """Position in the revision: files sorted by path, rules in file order."""
        return self.source.file, self.index

    @property
    def where(self) -> str:
        """file:line of the rule"""
        return f"{self.file}:{self.line}"


@lru_cache(maxsize=4096)
def action_set(patterns: tuple[str, ...], effect: Effect = "allow") -> ActionSet:
    """One shared set per distinct action list and effect: most rules repeat a few lists (`[produce]`),
    and a `tenant-admin` set holds ~100 names. In a deny rule a wildcard also stands for `superuser` and
    `tenant.admin`; in an allow rule they must be named. Raises PolicyError for the first unknown
    pattern."""
    return ActionSet.of(patterns, expand_patterns(patterns, grants=effect == "deny"))


class _Compiler:
    """Collects errors while compiling one document's rules."""

    def __init__(self, doc: SourceDoc, shared: Shared, errors: list[str]) -> None:
        self.doc, self.shared, self.naming, self.errors = doc, shared, shared.naming, errors

    def each(self, items: Sequence[T], path: JsonPath, parse: Callable[[T], Any]) -> list[Any]:
        out = []
        for index, item in enumerate(items):
            try:
                out.append(parse(item))
            except PolicyError as exc:
                self.errors.append(f"{self.doc.where((*path, index))}: {exc.message}")
        return out

    def subjects(self, raw: dict[str, Any], path: JsonPath) -> Held | tuple[Held, ...]:
        """The rule's own subjects, else the document's; an error if neither has any."""
        deny = raw["effect"] == "deny"
        subjects, where = (raw, path) if "subjects" in raw else (self.doc.data, ())
        if "subjects" in subjects:
            return self.shared.join(
                self.each(subjects["subjects"], (*where, "subjects"), lambda s: self.shared.subject(s, deny))
            )
        self.errors.append(
            f"{self.doc.where(path)}: rule {raw['name']!r} has no subjects (none on the policy)"
        )
        return ()

    def actions(self, patterns: tuple[str, ...], effect: Effect, path: JsonPath) -> ActionSet:
        """The (shared) concrete actions; each unknown pattern is reported at its own line."""
        grants = effect == "deny"
        try:
            return action_set(patterns, effect)
        except PolicyError:
            found = self.each(patterns, (*path, "actions"), lambda a: expand_patterns([a], grants=grants))
            return ActionSet.of(patterns, frozenset().union(*found))

    def rule(
        self, raw: dict[str, Any], path: JsonPath, source: RuleFile, rule_id: str
    ) -> CompiledRule | None:
        before = len(self.errors)
        actions = self.actions(tuple(raw["actions"]), raw["effect"], path)
        subs = raw.get("subscriptions")
        shared = self.shared
        audit = "audit" in (raw.get("mode"), self.doc.data.get("mode"))
        rule = CompiledRule(
            source=source,
            index=source.add(rule_id, self.doc.line(path)),
            mode=(DENY if raw["effect"] == "deny" else ALLOW) + (AUDIT if audit else 0),
            held_subjects=self.subjects(raw, path),
            actions=actions,
            held_resources=shared.join(self.each(raw["resources"], (*path, "resources"), shared.resource)),
            subscriptions=None
            if subs is None
            else shared.tuple_of(self.each(subs, (*path, "subscriptions"), shared.subscription)),
            excepted=tuple(self.each(raw.get("except", ()), (*path, "except"), self.exception)),
        )
        self.check_semantics(rule, path)
        self.check_exceptions(rule, path)
        if len(self.errors) == before:
            return rule
        source.drop()
        return None

    def exception(self, raw: dict[str, Any]) -> Subject:
        subject = compile_subject(raw, self.naming)
        if isinstance(subject, EveryoneSubject):
            raise PolicyError(f"{subject.text!r} cannot be an exception: list who is excepted by name")
        if subject.variables:
            raise PolicyError(f"{subject.text!r}: an exception cannot capture; write the names it excepts")
        return subject

    def check_exceptions(self, rule: CompiledRule, path: JsonPath) -> None:
        """Each exception must be able to be one of the rule's subjects: `everyone: spiffe` except a plain
        role excepts no one, which is never what it reads like."""
        if not rule.excepted:
            return
        kinds = frozenset().union(*(namespaces_of(s) for s in rule.subjects))
        for index, excepted in enumerate(rule.excepted):
            if namespaces_of(excepted) & kinds:
                continue
            subjects = ", ".join(_described(s) for s in rule.subjects)
            self.errors.append(
                f"{self.doc.where((*path, 'except', index))}: rule {rule.id!r} excepts {excepted.text!r}, "
                f"which can never be one of its subjects ({subjects}): a {_kind_words(excepted)} is never "
                "one of them; except only subjects of the same kind, or give that principal a rule of its own"
            )

    def check_semantics(self, rule: CompiledRule, path: JsonPath) -> None:
        used = frozenset().union(*(r.variables for r in rule.resources), *_sub_vars(rule))
        for subject in rule.subjects if used else ():
            missing = sorted(used - subject.variables)
            if missing:
                self.errors.append(
                    f"{rule.where}: rule {rule.id!r} uses {{{missing[0]}}} but subject {subject.text!r} "
                    "does not capture it"
                )
        if rule.effect == "deny" and rule.subscriptions is not None:
            others = sorted(rule.actions - SUBSCRIPTION_ACTIONS)
            if others:
                self.errors.append(
                    f"{self.doc.where((*path, 'subscriptions'))}: deny rule {rule.id!r} is limited to "
                    f"subscriptions but also denies {others[0]}, which names no subscription; "
                    "list only subscription actions (e.g. topic.consume) in it"
                )


def _described(subject: Subject) -> str:
    return subject.words if isinstance(subject, EveryoneSubject) else subject.text


_NAMESPACE_WORDS = {"spiffe": "SPIFFE principal", "sso": "SSO principal", "plain": "plain role"}


def _kind_words(subject: Subject) -> str:
    return " or ".join(sorted(_NAMESPACE_WORDS[n.value] for n in namespaces_of(subject)))


def _sub_vars(rule: CompiledRule) -> Iterable[frozenset[str]]:
    return [s.variables for s in rule.subscriptions or ()]


def compile_documents(
    docs: Iterable[SourceDoc], naming: LinkerdNaming, shared: Shared | None = None
) -> tuple[list[CompiledRule], list[str]]:
    """Rules of every AccessPolicy document in order, and every error found; ids must be unique.
    Documents of one file must come together (rule positions count per file). `shared` (made with the
    same `naming`) shares subjects and resources with the other files of the same compile."""
    if shared is None:
        shared = Shared(naming)
    rules: list[CompiledRule] = []
    errors: list[str] = []
    seen: dict[str, tuple[SourceDoc, int]] = {}
    sources: dict[str, RuleFile] = {}
    for doc in docs:
        compiler = _Compiler(doc, shared, errors)
        source = sources.get(doc.file)
        if source is None:
            source = sources[doc.file] = RuleFile(doc.file)
        for index, raw in enumerate(doc.data["rules"]):
            rule_id = f"{doc.file}#{raw['name']}"
            if rule_id in seen:
                first, at = seen[rule_id]
                errors.append(
                    f"{doc.where(('rules', index, 'name'))}: duplicate rule id {rule_id!r} "
                    f"(first defined at {first.where(('rules', at))})"
                )
                continue
            seen[rule_id] = (doc, index)
            rule = compiler.rule(raw, ("rules", index), source, rule_id)
            if rule is not None:
                rules.append(rule)
    for source in sources.values():
        source.seal()
    return rules, errors
