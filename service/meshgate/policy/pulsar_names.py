"""Pulsar's names, read exactly as the broker's `TopicName`, `NamespaceName` and `NamedEntity` read them.

The broker shim sends `TopicName.toString()` and `getNamespace()`, so meshgate must split a name and
recognise a partition the way Pulsar does, not the way a regular expression would.
`tests/conformance/pulsar_names` checks every function here against Pulsar's own classes.

Which names Pulsar accepts (4.0, 4.2):

- a tenant, a namespace and a cluster (`NamedEntity.checkName`): one or more of the ASCII letters, digits,
  `_`, `-`, `=`, `:` and `.`; so `.`, `..` and `a:b=c` are names like any other;
- a topic's local name: anything that is not blank (Java's `String.isBlank`: empty, or only characters
  `Character.isWhitespace` takes for white space); spaces, `*`, `{`, non-ASCII letters are all fine.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import NamedTuple

DOMAINS = ("persistent", "non-persistent")
PARTITION_MARK = "-partition-"
_INT_MAX = 2**31 - 1
_INT_MAX_DIGITS = len(str(_INT_MAX))
ENTITY_PATTERN = r"[-=:.\w]+"  # NamedEntity.NAMED_ENTITY_PATTERN, and not empty; with re.ASCII
_ENTITY = re.compile(ENTITY_PATTERN, re.ASCII)
ENTITY_CHARACTERS = "the ASCII letters, digits, '_', '-', '=', ':' and '.'"
# Character.isWhitespace: the Unicode space separators but the no-break ones, and these controls.
_JAVA_WHITESPACE = "".join(
    chr(c)
    for c in range(0x10000)
    if (unicodedata.category(chr(c)) in ("Zs", "Zl", "Zp") and c not in (0x00A0, 0x2007, 0x202F))
    or 0x09 <= c <= 0x0D
    or 0x1C <= c <= 0x1F
)
BLANK_STARTS = frozenset({"", *_JAVA_WHITESPACE})  # what a blank name starts with: nothing, or white space


class TopicParts(NamedTuple):
    """A full topic name split as Pulsar splits it. `cluster` is set only for a v1 (4-part) name."""

    domain: str  # lower case, whatever case the name used
    tenant: str
    cluster: str
    namespace: str  # the namespace's own name, without the tenant (and cluster)
    local: str

    @property
    def namespace_name(self) -> str:
        """What `TopicName.getNamespace()` returns: tenant/namespace, or tenant/cluster/namespace (v1)."""
        middle = f"{self.cluster}/" if self.cluster else ""
        return f"{self.tenant}/{middle}{self.namespace}"


@lru_cache(maxsize=8192)  # a broker asks about few distinct tenants and namespaces, many times each
def is_entity_name(name: str) -> bool:
    """True if Pulsar accepts `name` for a tenant, a namespace or a cluster."""
    return _ENTITY.fullmatch(name) is not None


@lru_cache(maxsize=8192)
def are_entity_names(tenant: str, namespace: str) -> bool:
    """`is_entity_name` of both, in one cached call (once per decision on a topic)."""
    return is_entity_name(tenant) and is_entity_name(namespace)


def is_local_name(local: str) -> bool:
    """True if Pulsar accepts `local` as a topic's local name (not blank, as Java's `isBlank` has it)."""
    return local[:1] not in BLANK_STARTS or bool(local.strip(_JAVA_WHITESPACE))


def split_topic(name: str) -> TopicParts | None:
    """`<domain>://<tenant>/<namespace>/<local>` (v2) or `<domain>://<tenant>/<cluster>/<namespace>/<local>`
    (v1), split like `TopicName`: the local name is everything after the third or fourth `/`, so it holds
    a `/` only in a v1 name. None when Pulsar would not read `name` as a full topic name.

    The domain is matched without regard to ASCII case, as Pulsar does (4.2 even sends it back as
    written); the other spellings Java's `equalsIgnoreCase` allows (U+017F for `s`, U+0130 for `i`)
    are refused.
    """
    domain, sep, rest = name.partition("://")
    if domain not in DOMAINS and domain.isascii():
        domain = domain.lower()
    if not sep or domain not in DOMAINS:
        return None
    parts = rest.split("/", 3)
    if len(parts) < 3 or not all(parts):
        return None
    if len(parts) == 3:
        return TopicParts(domain, parts[0], "", parts[1], parts[2])
    return TopicParts(domain, parts[0], parts[1], parts[2], parts[3])


def partition_index(name: str) -> int:
    """Pulsar's `TopicName.getPartitionIndex(name)`: the partition `name` names, or -1 if none.

    Pulsar parses what follows the last `-partition-` with Java's `Integer.parseInt` and keeps it only if
    it reads back the same way: `-partition-3` (or the same digit in another script, e.g. Arabic-Indic)
    is partition 3, while `-partition-03`, `-partition-+3` and `-partition-2147483648` end an ordinary
    topic's name.
    """
    _, mark, digits = name.rpartition(PARTITION_MARK)
    if not mark or not 0 < len(digits) <= _INT_MAX_DIGITS or not all(map(_is_java_digit, digits)):
        return -1
    index = int(digits)  # int() reads every Unicode decimal digit, as Integer.parseInt does
    return index if index <= _INT_MAX and len(str(index)) == len(digits) else -1


def partitioned_local_name(local: str) -> str:
    """The local name of the partitioned topic that `local` is a partition of; `local` if none.

    Pulsar looks for the partition suffix in the full name; the suffix holds no `/`, so looking in
    the local name finds the same one.
    """
    if PARTITION_MARK not in local or partition_index(local) < 0:
        return local
    return local[: local.rfind(PARTITION_MARK)]


def _is_java_digit(char: str) -> bool:
    """`Character.digit(char, 10) != -1` for one UTF-16 unit: a decimal digit (Nd) in the BMP."""
    return "0" <= char <= "9" or (char < "\U00010000" and unicodedata.decimal(char, -1) >= 0)
