"""The commit a policy folder was checked out from, read from `.git` without running git.

Handles a normal checkout (`.git` directory), a linked worktree (`.git` file with `gitdir:`, as
git-sync creates behind its symlink), symbolic and detached HEAD, loose and packed refs.
"""

from __future__ import annotations

import re
from pathlib import Path

_SHA = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")


def _git_dir(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        dot_git = folder / ".git"
        if dot_git.is_dir():
            return dot_git
        if dot_git.is_file():
            text = dot_git.read_text("utf-8").strip()
            if text.startswith("gitdir:"):
                return (folder / text[len("gitdir:") :].strip()).resolve()
            return None
    return None


def _common_dir(git_dir: Path) -> Path:
    pointer = git_dir / "commondir"
    if pointer.is_file():
        return (git_dir / pointer.read_text("utf-8").strip()).resolve()
    return git_dir


def _resolve_ref(git_dir: Path, ref: str) -> str | None:
    for base in (git_dir, _common_dir(git_dir)):
        loose = base / ref
        if loose.is_file():
            return loose.read_text("utf-8").strip()
    packed = _common_dir(git_dir) / "packed-refs"
    if packed.is_file():
        for line in packed.read_text("utf-8").splitlines():
            sha, _, name = line.partition(" ")
            if name == ref:
                return sha
    return None


def git_revision(folder: Path) -> str | None:
    """The commit SHA of HEAD of the checkout holding `folder` (symlinks resolved), or None."""
    try:
        git_dir = _git_dir(folder.resolve())
        if git_dir is None:
            return None
        head = (git_dir / "HEAD").read_text("utf-8").strip()
        for _ in range(5):  # a symbolic ref may point at another symbolic ref
            if not head.startswith("ref:"):
                break
            head = _resolve_ref(git_dir, head[len("ref:") :].strip()) or ""
    except OSError:
        return None
    return head if _SHA.fullmatch(head) else None
