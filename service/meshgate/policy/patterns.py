"""Glob patterns over one name segment, with `*` wildcards and `{name}` captures.

A segment is the part of a name between two `/`. `*` matches any run of characters inside one segment;
`{ns}` stands for the value a subject pattern captured under that name. Matching is pure string work
(no regular expressions on the hot path).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from meshgate.errors import PolicyError

Bindings = Mapping[str, str]
NO_BINDINGS: Bindings = {}
NO_VARIABLES: frozenset[str] = frozenset()  # one shared empty set: each new empty frozenset is 216 B

_TOKEN = re.compile(r"\{([a-z_][a-z0-9_]*)\}|\*|[^{}*]+")
_BAD_CHARS = re.compile(r"[\s/]")


@dataclass(frozen=True, slots=True)
class Capture:
    name: str


Token = str | Capture  # "*" is the wildcard token; any other str is literal text
STAR = "*"


def glob_match(pieces: tuple[str, ...] | list[str], value: str) -> bool:
    """True if `value` is pieces[0] + anything + pieces[1] + ... + anything + pieces[-1]."""
    if len(pieces) == 1:
        return value == pieces[0]
    first, last = pieces[0], pieces[-1]
    if len(value) < len(first) + len(last) or not value.startswith(first) or not value.endswith(last):
        return False
    pos, end = len(first), len(value) - len(last)
    for piece in pieces[1:-1]:
        found = value.find(piece, pos, end)
        if found < 0:
            return False
        pos = found + len(piece)
    return True


@dataclass(frozen=True, slots=True)
class SegmentPattern:
    """One segment: literal text, `*` and `{capture}` tokens."""

    text: str
    tokens: tuple[Token, ...]
    pieces: tuple[str, ...] | None  # precomputed when there is no capture
    variables: frozenset[str] = frozenset()

    @property
    def literal(self) -> str | None:
        """The text when the segment has no wildcard and no capture."""
        return self.text if self.pieces is not None and len(self.pieces) == 1 else None

    def matches(self, value: str, bindings: Bindings = NO_BINDINGS) -> bool:
        fixed = self.pieces
        if fixed is not None:
            return value == fixed[0] if len(fixed) == 1 else glob_match(fixed, value)
        pieces = [""]
        for token in self.tokens:
            if isinstance(token, Capture):  # first: `Capture == str` is a call to the dataclass's __eq__
                pieces[-1] += bindings[token.name]
            elif token == STAR:
                pieces.append("")
            else:
                pieces[-1] += token
        return glob_match(pieces, value)

    def to_regex(self) -> str:
        """A regular expression that captures the `{name}` tokens (used for who-can, not for decisions)."""
        seen: set[str] = set()
        out = []
        for token in self.tokens:
            if isinstance(token, Capture):
                out.append(f"(?P={token.name})" if token.name in seen else f"(?P<{token.name}>.+?)")
                seen.add(token.name)
            else:
                out.append(".*" if token == STAR else re.escape(token))
        return "".join(out)

    def substitute(self, bindings: Bindings) -> str:
        return "".join(
            bindings.get(t.name, f"{{{t.name}}}") if isinstance(t, Capture) else t for t in self.tokens
        )


@lru_cache(maxsize=4096)  # the segments rules repeat (`*`, tenant names); a larger cache is ~10 MB
def parse_segment(text: str) -> SegmentPattern:
    """Parse one segment pattern; raise PolicyError naming the problem."""
    if not text:
        raise PolicyError("empty name segment")
    if _BAD_CHARS.search(text):
        raise PolicyError(f"{text!r} contains a space or '/' where one name segment is expected")
    tokens: list[Token] = []
    pos = 0
    for match in _TOKEN.finditer(text):
        if match.start() != pos:
            break
        tokens.append(Capture(match.group(1)) if match.group(1) else match.group(0))
        pos = match.end()
    if pos != len(text):
        raise PolicyError(
            f"{text!r} has a malformed capture: use {{name}} with lower-case letters, digits, '_'"
        )
    variables = frozenset(t.name for t in tokens if isinstance(t, Capture)) or NO_VARIABLES
    pieces = None if variables else tuple(text.split(STAR))
    return SegmentPattern(text, tuple(tokens), pieces, variables)
