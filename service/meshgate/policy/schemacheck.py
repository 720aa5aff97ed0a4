"""The policy JSON Schema compiled once into plain Python checks that answer only "valid or not". Pure.

`jsonschema` walks the schema for every value (references resolved, validators built and evolved per
call): 60 % of compiling a 10,000-rule policy. This compiles `schema.json` into nested closures once, so a
valid document costs a few function calls per value. It answers only yes or no; the loader asks
`jsonschema` for the messages of a document this refuses, so every message stays exactly what it was.

Only the keywords `schema.json` uses are supported, and any other keyword is refused when compiling, so
the schema cannot grow a keyword this would silently ignore. `tests/unit/policy/test_policy_schemacheck.py`
checks that it agrees with `jsonschema` on valid documents and on thousands of mutations of them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sized
from typing import Any

Check = Callable[[Any], bool]

_TYPES: Mapping[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
}
_ANNOTATIONS = frozenset({"$schema", "$id", "title", "description", "$defs"})


def _same(a: Any, b: Any) -> bool:
    """JSON equality as jsonschema has it for the values the schema compares (strings): no 1 == True."""
    return type(a) is type(b) and a == b


class _Compiler:
    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self.refs: dict[str, Check] = {}
        self.compiling: set[str] = set()

    def ref(self, pointer: str) -> Check:
        """A check for `#/$defs/NAME`, compiled once; recursion goes through the table."""
        if pointer not in self.refs:
            if not pointer.startswith("#/$defs/"):
                raise ValueError(f"unsupported $ref {pointer!r}")
            self.refs[pointer] = _ALWAYS  # placeholder while compiling
            self.compiling.add(pointer)
            self.refs[pointer] = self.compile(self.root["$defs"][pointer[len("#/$defs/") :]])
            self.compiling.discard(pointer)
        return self.refs[pointer]

    def compile(self, schema: Any) -> Check:
        if schema is True:
            return _ALWAYS
        checks: list[Check] = []
        closed = schema.get("type") == "object" and schema.get("additionalProperties") is False
        if closed:
            checks.append(_closed_object(self, schema))
        for keyword, value in schema.items():
            if keyword in _ANNOTATIONS or (closed and keyword in _CLOSED_OBJECT):
                continue
            build = _KEYWORDS.get(keyword)
            if build is None:
                if keyword == "then":
                    continue  # compiled with its `if`
                raise ValueError(f"schemacheck does not support the keyword {keyword!r}")
            checks.append(build(self, value, schema))
        return _all(checks)


def _all(checks: list[Check]) -> Check:
    if not checks:
        return _ALWAYS
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda v: first(v) and second(v)

    def every(value: Any) -> bool:
        for check in checks:  # noqa: SIM110 (a loop, not all(<generator>): this runs for every value)
            if not check(value):
                return False
        return True

    return every


def _ALWAYS(value: Any) -> bool:
    return True


def _type(c: _Compiler, value: str, schema: Any) -> Check:
    return _TYPES[value]


def _const(c: _Compiler, value: Any, schema: Any) -> Check:
    return lambda v: _same(v, value)


def _enum(c: _Compiler, values: list[Any], schema: Any) -> Check:
    return lambda v: any(_same(v, x) for x in values)


def _required(c: _Compiler, names: list[str], schema: Any) -> Check:
    needed = frozenset(names)
    return lambda v: not isinstance(v, dict) or needed.issubset(v)


def _properties(c: _Compiler, props: Mapping[str, Any], schema: Any) -> Check:
    compiled = {name: c.compile(sub) for name, sub in props.items()}

    def properties(value: Any) -> bool:
        if isinstance(value, dict):
            for name, item in value.items():
                check = compiled.get(name)
                if check is not None and not check(item):
                    return False
        return True

    return properties


_CLOSED_OBJECT = frozenset({"type", "required", "properties", "additionalProperties"})


def _closed_object(c: _Compiler, schema: Any) -> Check:
    """`type: object`, `required`, `properties` and `additionalProperties: false` in one check: most values
    of a policy are in such objects (a rule, a subject), and one call per object is a third of four."""
    compiled = {name: c.compile(sub) for name, sub in schema.get("properties", {}).items()}
    needed = frozenset(schema.get("required", ()))

    def closed(value: Any) -> bool:
        if not isinstance(value, dict) or not needed.issubset(value):
            return False
        for name, item in value.items():
            check = compiled.get(name)
            if check is None or not check(item):  # None: a key `properties` does not list
                return False
        return True

    return closed


def _additional(c: _Compiler, value: Any, schema: Any) -> Check:
    known = frozenset(schema.get("properties", {}))
    if value is False:
        return lambda v: not isinstance(v, dict) or known.issuperset(v)
    check = c.compile(value)
    return lambda v: not isinstance(v, dict) or all(check(x) for k, x in v.items() if k not in known)


def _count(limit: int, at_least: bool, kind: type[Sized]) -> Check:
    if at_least:
        return lambda v: not isinstance(v, kind) or len(v) >= limit
    return lambda v: not isinstance(v, kind) or len(v) <= limit


def _items(c: _Compiler, value: Any, schema: Any) -> Check:
    check = c.compile(value)

    def items(value: Any) -> bool:
        if isinstance(value, list):
            for item in value:
                if not check(item):
                    return False
        return True

    return items


def _pattern(c: _Compiler, value: str, schema: Any) -> Check:
    search = re.compile(value).search
    return lambda v: not isinstance(v, str) or search(v) is not None


def _dependent_required(c: _Compiler, value: Mapping[str, list[str]], schema: Any) -> Check:
    return lambda v: (
        not isinstance(v, dict)
        or all(all(n in v for n in needed) for key, needed in value.items() if key in v)
    )


def _all_of(c: _Compiler, schemas: list[Any], schema: Any) -> Check:
    return _all([c.compile(s) for s in schemas])


def _if(c: _Compiler, value: Any, schema: Any) -> Check:
    condition, then = c.compile(value), c.compile(schema.get("then", True))
    return lambda v: not condition(v) or then(v)


def _ref(c: _Compiler, ref: str) -> Check:
    check = c.ref(ref)
    if ref not in c.compiling:
        return check  # complete: called directly
    refs = c.refs  # a definition that refers to itself: looked up when used, once it is complete
    return lambda v: refs[ref](v)


_KEYWORDS: Mapping[str, Callable[[_Compiler, Any, Any], Check]] = {
    "type": _type,
    "const": _const,
    "enum": _enum,
    "required": _required,
    "properties": _properties,
    "additionalProperties": _additional,
    "minItems": lambda c, n, s: _count(n, True, list),
    "minLength": lambda c, n, s: _count(n, True, str),
    "maxLength": lambda c, n, s: _count(n, False, str),
    "minProperties": lambda c, n, s: _count(n, True, dict),
    "maxProperties": lambda c, n, s: _count(n, False, dict),
    "items": _items,
    "pattern": _pattern,
    "dependentRequired": _dependent_required,
    "allOf": _all_of,
    "if": _if,
    "$ref": lambda c, ref, s: _ref(c, ref),
}


def compile_schema(schema: Mapping[str, Any]) -> Check:
    """A function telling whether a document is valid against `schema` (draft 2020-12, the keywords
    above only); raises ValueError for a keyword it does not support."""
    compiler = _Compiler(schema)
    check = compiler.compile(schema)
    for name in schema.get("$defs", {}):
        compiler.ref(f"#/$defs/{name}")  # compile every definition now: no surprise on first use
    return check
