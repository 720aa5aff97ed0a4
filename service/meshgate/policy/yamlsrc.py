"""YAML documents that remember the line of every value, and JSON Schema checks that report file:line."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import yaml

from meshgate.policy.schemacheck import Check, compile_schema

if TYPE_CHECKING:  # imported only to word a refusal: ~9 MiB of RSS that a valid policy never needs
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

JsonPath = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class SourceDoc:
    """One YAML document of a file, with the 1-based line of each value by its path."""

    file: str
    data: Any
    lines: Mapping[JsonPath, int]

    def line(self, path: JsonPath = ()) -> int:
        """Line of the value at `path`, or of its closest parent that has one."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return 0

    def where(self, path: JsonPath = ()) -> str:
        return f"{self.file}:{self.line(path)}"


_STR_TAG = "tag:yaml.org,2002:str"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_FAST_LOADER = getattr(yaml, "CSafeLoader", None)  # libyaml: ~5x faster composing than pure Python


def parse_documents(text: str, file: str) -> tuple[list[SourceDoc], list[str]]:
    """Every non-empty document of `text`, and the errors found (syntax, duplicate keys).

    Parsed with libyaml when available; any YAML error sends the text through the pure-Python loader,
    so error messages stay exactly the same."""
    if _FAST_LOADER is not None:
        try:
            return _documents(_FAST_LOADER(text), file)
        except Exception:  # re-parsed below, for the precise message
            pass
    return _parse_slow(text, file)


def _documents(loader: Any, file: str) -> tuple[list[SourceDoc], list[str]]:
    """Documents and duplicate-key errors; YAML syntax errors propagate."""
    docs: list[SourceDoc] = []
    errors: list[str] = []
    try:
        _collect(loader, file, docs, errors)
    finally:
        loader.dispose()
    return docs, errors


def _collect(loader: Any, file: str, docs: list[SourceDoc], errors: list[str]) -> None:
    """Append each non-empty document of `loader` to `docs` (kept even if a later one fails)."""
    while loader.check_node():
        node = loader.get_node()
        if node is None:
            continue
        lines: dict[JsonPath, int] = {}
        _record_lines(node, (), lines, errors, file)
        data = loader.construct_document(node)
        if data is not None:
            docs.append(SourceDoc(file, data, lines))


_FAST_DEPTH = 2  # the fast path records the line of `()`, of top-level keys and of their items


class _Irregular(Exception):
    """Something the fast path leaves to the exact one: a duplicate key, a tag, a merge key."""


_IMPLICIT_FIRST = frozenset(k for k in yaml.resolver.Resolver.yaml_implicit_resolvers if k)


def _fast_resolve(loader: Any, kind: Any, value: Any, implicit: tuple[bool, bool]) -> str:
    """PyYAML's tag resolution without its regular expressions where none can apply: a quoted scalar,
    or a plain one whose first character starts no implicit type (null, bool, int, float, timestamp,
    merge, value), is a string; anything else is resolved as PyYAML does."""
    if kind is yaml.ScalarNode:
        if not implicit[0] or (value and value[0] not in _IMPLICIT_FIRST):
            return _STR_TAG
    elif kind is yaml.MappingNode:
        return _MAP_TAG
    elif kind is yaml.SequenceNode:
        return _SEQ_TAG
    resolve: Callable[..., str] = yaml.resolver.BaseResolver.resolve
    return resolve(loader, kind, value, implicit)


_FAST_PATH_LOADER = (
    type("_FastPathLoader", (_FAST_LOADER,), {"resolve": _fast_resolve}) if _FAST_LOADER else None
)


def fast_documents(text: str, file: str) -> list[SourceDoc] | None:
    """The documents of `text` with the lines of the paths at most two deep (`("rules", 3)`), or None
    when the text has anything but plain, valid YAML maps, lists and scalars (a syntax error, a duplicate
    key, a tag): then `parse_documents` gives the documents, every line and the exact error messages.

    One pass over libyaml's nodes builds the values and records the lines, instead of a pass for the
    lines and another for the values (the pure-Python constructor): about 3x faster."""
    if _FAST_PATH_LOADER is None:
        return None
    loader = _FAST_PATH_LOADER(text)
    try:
        docs = []
        while loader.check_node():
            node = loader.get_node()
            lines: dict[JsonPath, int] = {}
            data = _fast_value(loader, node, (), lines)
            if data is not None:
                docs.append(SourceDoc(file, data, lines))
        return docs
    except Exception:  # any surprise goes to the exact path, which reports it
        return None
    finally:
        loader.dispose()


def _fast_value(loader: Any, node: yaml.Node, path: JsonPath, lines: dict[JsonPath, int]) -> Any:
    if len(path) <= _FAST_DEPTH:
        lines[path] = node.start_mark.line + 1
    tag = node.tag
    if tag == _STR_TAG:
        return node.value
    if tag == _MAP_TAG:
        out = {}
        for key_node, value_node in node.value:
            if key_node.tag != _STR_TAG:
                raise _Irregular("non-string key")
            key = key_node.value
            if key in out:
                raise _Irregular("duplicate key")
            out[key] = _fast_value(loader, value_node, (*path, key), lines)
        return out
    if tag == _SEQ_TAG:
        return [_fast_value(loader, item, (*path, i), lines) for i, item in enumerate(node.value)]
    if isinstance(node, yaml.ScalarNode) and tag.startswith("tag:yaml.org,2002:"):
        return loader.construct_object(node)  # null, bool, int, float, timestamp: as PyYAML reads them
    raise _Irregular(f"tag {tag}")


def _parse_slow(text: str, file: str) -> tuple[list[SourceDoc], list[str]]:
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:  # a control character anywhere: PyYAML refuses the whole text
        line = text.count("\n", 0, exc.position) + 1
        return [], [f"{file}:{line}: YAML syntax error: unacceptable character #x{exc.character:04x}"]
    docs: list[SourceDoc] = []
    errors: list[str] = []
    try:
        _collect(loader, file, docs, errors)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 0
        errors.append(f"{file}:{line}: YAML syntax error: {exc.problem}")
    finally:
        loader.dispose()
    return docs, errors


def _record_lines(
    node: yaml.Node, path: JsonPath, lines: dict[JsonPath, int], errors: list[str], file: str
) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                errors.append(f"{file}:{key_node.start_mark.line + 1}: duplicate key {key!r}")
            seen.add(key)
            _record_lines(value_node, (*path, key), lines, errors, file)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_lines(item, (*path, index), lines, errors, file)


@cache
def _schema() -> Any:
    return json.loads(resources.files("meshgate.policy").joinpath("schema.json").read_text("utf-8"))


@cache
def _fast_check() -> Check:
    return compile_schema(_schema())


def schema_valid(doc: SourceDoc) -> bool:
    """True if `doc` is valid against the schema (compiled checks; `schema_errors` says what is wrong)."""
    return _fast_check()(doc.data)


@cache
def _validator() -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    schema = _schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def schema_errors(doc: SourceDoc) -> list[str]:
    """Each schema violation of `doc` as `file:line: what is wrong`, in document order."""
    if schema_valid(doc):  # the compiled checks agree with jsonschema; only a refusal needs its words
        return []
    found = sorted(_validator().iter_errors(doc.data), key=lambda e: doc.line(tuple(e.absolute_path)))
    return [_describe(doc, error) for error in _leaves(found)]


def _leaves(errors: list[ValidationError]) -> list[ValidationError]:
    out: list[ValidationError] = []
    for error in errors:
        if error.validator in ("if", "allOf") and error.context:
            out.extend(_leaves(list(error.context)))
        else:
            out.append(error)
    return out


def _describe(doc: SourceDoc, error: ValidationError) -> str:
    path: JsonPath = tuple(error.absolute_path)
    where = ".".join(str(p) for p in path) or "document"
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        allowed = sorted(schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        known = ", ".join(allowed)
        return f"{doc.where((*path, extra[0]))}: unknown key {extra[0]!r} in {where} (allowed: {known})"
    if error.validator == "required":
        return f"{doc.where(path)}: {where}: {error.message.replace('is a required property', 'is required')}"
    if error.validator in ("minProperties", "maxProperties") and schema.get("title") == "subject":
        return (
            f"{doc.where(path)}: {where}: a subject has exactly one of spiffe, linkerd, role, oidc, everyone"
        )
    return f"{doc.where(path)}: {where}: {error.message}"
