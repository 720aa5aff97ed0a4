"""The fast way of reading a policy file: one pass over libyaml's events builds the values and records the
lines of the paths at most two deep (`("rules", 3)`), with no node objects in between.

It reads plain YAML maps, lists and scalars, anchors and aliases, and the standard tags, exactly as PyYAML
reads them. Anything else (a syntax error, a duplicate key, a key that is not a string, a merge key, an
unknown tag) makes it give up: `meshgate.policy.yamlsrc.parse_documents` then reads the file the exact
way, with every line and the exact error messages. Composing libyaml's nodes made ~2 million Python
objects for 100,000 rules (each node and its two marks) and called back into Python to resolve each one.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

from meshgate.policy.yamlsrc import JsonPath, SourceDoc

_FAST_LOADER = getattr(yaml, "CSafeLoader", None)  # libyaml
_DEPTH = 2  # the lines of `()`, of top-level keys and of their items
_STANDARD = "tag:yaml.org,2002:"
_STR_TAG = _STANDARD + "str"
_COLLECTION_TAGS = {
    MappingStartEvent: (None, _STANDARD + "map"),
    SequenceStartEvent: (None, _STANDARD + "seq"),
}
# First characters of the plain scalars PyYAML may read as something else than a string.
_IMPLICIT_FIRST = frozenset(k for k in yaml.resolver.Resolver.yaml_implicit_resolvers if k)
# Of those, the letters, which start only the words of a bool (`false`) or a null (`null`): at most five
# characters, so a longer plain scalar that starts with one (`tenant-admin`, `no-one`) is a string.
_WORD_TAGS = frozenset({_STANDARD + "bool", _STANDARD + "null"})
_WORD_FIRST = frozenset(
    k
    for k, resolvers in yaml.resolver.Resolver.yaml_implicit_resolvers.items()
    if k.isalpha() and {tag for tag, _ in resolvers} <= _WORD_TAGS
)
_LONGEST_WORD = 5


class _Irregular(Exception):
    """Something the fast way leaves to the exact one."""


class _Reader:
    def __init__(self, loader: Any) -> None:
        self.loader = loader
        self.next = loader.get_event
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.lines: dict[JsonPath, int] = {}

    def document(self) -> Any:
        self.anchors, self.lines = {}, {}
        value = self.value(self.next(), ())
        self.next()  # DocumentEndEvent
        return value

    def value(self, event: Any, path: JsonPath | None) -> Any:
        kind = type(event)
        if kind is ScalarEvent:
            value, line = self.scalar(event), event.start_mark.line + 1
        elif kind is AliasEvent:
            value, line = self.anchors[event.anchor]  # KeyError: an undefined alias, for the exact way
        elif kind is MappingStartEvent or kind is SequenceStartEvent:
            if event.tag not in _COLLECTION_TAGS[kind]:
                raise _Irregular(f"tag {event.tag}")
            line = event.start_mark.line + 1
            deeper = path if path is not None and len(path) < _DEPTH else None
            value = self.mapping(deeper) if kind is MappingStartEvent else self.sequence(deeper)
        else:
            raise _Irregular(f"event {kind.__name__}")
        if path is not None:
            self.lines[path] = line
        if kind is not AliasEvent and event.anchor is not None:
            self.anchors[event.anchor] = (value, line)
        return value

    def mapping(self, path: JsonPath | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        next_event = self.next
        while True:
            event = next_event()
            if type(event) is MappingEndEvent:
                return out
            if type(event) is not ScalarEvent or event.anchor is not None:
                raise _Irregular("a key that is not a plain string")
            key = self.scalar(event)
            if type(key) is not str or key in out:
                raise _Irregular("a key that is not a string, or a duplicate key")
            event = next_event()
            if path is None and type(event) is ScalarEvent and event.anchor is None:
                out[key] = self.scalar(event)  # most values: no line to record, nothing to remember
            else:
                out[key] = self.value(event, None if path is None else (*path, key))

    def sequence(self, path: JsonPath | None) -> list[Any]:
        out: list[Any] = []
        next_event = self.next
        while True:
            event = next_event()
            if type(event) is SequenceEndEvent:
                return out
            if path is None and type(event) is ScalarEvent and event.anchor is None:
                out.append(self.scalar(event))
            else:
                out.append(self.value(event, None if path is None else (*path, len(out))))

    def scalar(self, event: Any) -> Any:
        """The value PyYAML gives the scalar: a string unless its tag, or for a plain scalar its text,
        says otherwise (resolved as PyYAML resolves it)."""
        value: str = event.value
        tag = event.tag
        if tag is None:
            if not event.implicit[0] or (value and value[0] not in _IMPLICIT_FIRST):
                return value  # quoted, or plain and starting with what starts no other type
            if len(value) > _LONGEST_WORD and value[0] in _WORD_FIRST:
                return value
            tag = self.loader.resolve(yaml.ScalarNode, value, event.implicit)
        if tag == _STR_TAG:
            return value
        if not tag.startswith(_STANDARD) or tag == _STANDARD + "merge":
            raise _Irregular(f"tag {tag}")
        node = yaml.ScalarNode(tag, value, event.start_mark, event.end_mark, event.style)
        return self.loader.construct_object(node)  # null, bool, int, float, timestamp: as PyYAML reads them


def fast_documents(text: str, file: str) -> list[SourceDoc] | None:
    """The non-empty documents of `text` with the lines of the paths at most two deep, or None when the
    text has anything the exact way must read (see the module's description)."""
    if _FAST_LOADER is None:
        return None
    loader = _FAST_LOADER(text)
    try:
        reader = _Reader(loader)
        docs = []
        loader.get_event()  # StreamStartEvent
        while type(loader.get_event()) is not StreamEndEvent:  # a DocumentStartEvent
            data = reader.document()
            if data is not None:
                docs.append(SourceDoc(file, data, reader.lines))
        return docs
    except Exception:  # any surprise goes to the exact way, which reports it
        return None
    finally:
        loader.dispose()
