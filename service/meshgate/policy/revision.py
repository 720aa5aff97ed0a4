"""What names a policy revision: a digest of everything the compiled policy is made from. Pure.

The revision changes whenever the compiled policy can: any byte of any file the loader reads, the
configured super-users, or the Linkerd naming that subject patterns are translated with. The same inputs
always give the same revision, so a reload of identical content (or a new commit that leaves the policy
files alone) keeps it, and the broker plugin keeps its cached answers. The git commit the folder was
checked out at is only a label for humans and the audit log: a hot fix or a ConfigMap edit changes the
content without a commit, and must still change the revision.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

PREFIX = "sha256:"
_REVISION_HEX = 32  # 128 bits: no one can make two policies share a revision by search


def _hex(parts: Iterable[bytes]) -> str:
    digest = hashlib.sha256()
    for part in parts:  # length-prefixed, so no two sequences of parts encode alike
        digest.update(f"{len(part)}:".encode())
        digest.update(part)
    return digest.hexdigest()


def content_hash(files: Iterable[tuple[str, str]]) -> str:
    """SHA-256 over the sorted (path relative to the folder, text) of every file read; the reloader
    compares it to skip a folder whose files did not change."""
    parts = (piece for name, text in files for piece in (name.encode(), text.encode()))
    return PREFIX + _hex(parts)


def revision_of(
    content: str, trust_domain: str, control_plane_namespace: str, superusers: Iterable[str]
) -> str:
    """The revision of a policy compiled from files with `content` hash, the Linkerd naming and
    `superusers` (order and repeats do not matter)."""
    parts = [content, trust_domain, control_plane_namespace, *sorted(set(superusers))]
    return PREFIX + _hex(p.encode() for p in parts)[:_REVISION_HEX]


def with_superusers(revision: str, superusers: Iterable[str]) -> str:
    """The revision of `revision`'s rules with other super-users (a test suite's own list)."""
    parts = [revision, "superusers", *sorted(set(superusers))]
    return PREFIX + _hex(p.encode() for p in parts)[:_REVISION_HEX]


def describe(revision: str, commit: str) -> str:
    """`sha256:… (commit 3cc4291…)` for log lines and messages; the commit is left out when unknown."""
    return f"{revision} (commit {commit})" if commit else revision
