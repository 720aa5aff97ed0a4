"""YAML documents that remember the line of every value, and JSON Schema checks that report file:line."""

from __future__ import annotations

import json
from collections.abc import Mapping
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
