"""Read a policy folder once, validate every document, and compile it into a PolicySnapshot.

The folder is resolved (`realpath`) once, so a git-sync or ConfigMap symlink swap during the read is
either entirely before or entirely after it; the reloader re-checks the content hash to be sure.
All errors of a revision are collected and raised together: nothing is half applied. The revision is a
digest of what the policy is compiled from (`meshgate.policy.revision`); the git commit is a label.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from meshgate.errors import PolicyError
from meshgate.policy.compile import CompiledRule, compile_documents
from meshgate.policy.engine import CompiledFile, PolicySnapshot, RuleChain, file_digest
from meshgate.policy.gcpause import collector_paused
from meshgate.policy.gitrev import git_revision
from meshgate.policy.revision import content_hash, describe, revision_of
from meshgate.policy.shared import Shared
from meshgate.policy.yamlfast import fast_documents
from meshgate.policy.yamlsrc import SourceDoc, parse_documents, schema_errors, schema_valid
from meshgate.principal.linkerd import LinkerdNaming

_SUFFIXES = (".yaml", ".yml")
_TEST_SUFFIXES = ("_test.yaml", "_test.yml")


@dataclass(frozen=True, slots=True)
class PolicySource:
    """The text of every YAML file of one policy folder, read at one moment.

    Read against the serving snapshot (`read_source(..., previous=)`, a reload), a policy file that
    snapshot was compiled from unchanged is kept as its compiled file instead of as text, so a reload holds
    the texts of the changed files only (of 100,000 rules, 18 MiB of text was most of a reload's peak)."""

    root: Path
    commit: str  # HEAD of the git checkout holding the folder, "" outside git; a label, never compared
    content_hash: str  # over every file read, `unchanged` ones included
    files: tuple[tuple[str, str], ...]  # (path relative to root, text), sorted by path; not `unchanged`
    unchanged: Mapping[str, CompiledFile] = field(default_factory=dict)  # policy files as `previous` has them
    unchanged_naming: tuple[str, str] = ("", "")  # the Linkerd naming they were compared under

    def revision(self, superusers: Iterable[str] = (), naming: LinkerdNaming | None = None) -> str:
        """The revision these files compile to with `superusers` and `naming`."""
        naming = naming or LinkerdNaming()
        return revision_of(self.content_hash, naming.trust_domain, naming.control_plane_namespace, superusers)

    def documents(self, *, tests: bool) -> tuple[list[SourceDoc], list[str]]:
        """Schema-checked documents of the policy files (or of the `*_test.yaml` files) and errors; not of
        the files in `unchanged`."""
        docs: list[SourceDoc] = []
        errors: list[str] = []
        for name, text in self.files:
            if name.endswith(_TEST_SUFFIXES) == tests:
                found, problems = file_documents(name, text, tests=tests)
                docs += found
                errors += problems
        return docs, errors

    def policy_files(self) -> list[tuple[str, str]]:
        """(path, text) of every policy file (not a test suite) not in `unchanged`, sorted by path."""
        return [(name, text) for name, text in self.files if not name.endswith(_TEST_SUFFIXES)]


def file_documents(name: str, text: str, *, tests: bool) -> tuple[list[SourceDoc], list[str]]:
    """Schema-checked documents of one file, with the line of every value, and its errors."""
    docs: list[SourceDoc] = []
    want = "PolicyTestSuite" if tests else "AccessPolicy"
    parsed, errors = parse_documents(text, name)
    for doc in parsed:
        found = schema_errors(doc)
        errors += found
        if not found and doc.data["kind"] != want:
            errors.append(f"{doc.where(('kind',))}: expected kind {want} in this file")
        elif not found:
            docs.append(doc)
    return docs, errors


def _fast_policy_documents(name: str, text: str) -> list[SourceDoc] | None:
    """The documents of a policy file when it is valid (lines of rules only), else None."""
    docs = fast_documents(text, name)
    if docs is None or not all(schema_valid(d) and d.data["kind"] == "AccessPolicy" for d in docs):
        return None
    return docs


def compile_file(
    name: str, text: str, naming: LinkerdNaming, shared: Shared | None = None
) -> tuple[tuple[CompiledRule, ...], list[str]]:
    """The rules of one policy file, or its errors, with messages and lines exactly as the exact path
    gives them: the fast path (one pass over libyaml's events, compiled schema checks) serves valid files,
    and a file that fails anywhere on it is read again the exact way to say why."""
    docs = _fast_policy_documents(name, text)
    if docs is not None:
        rules, errors = compile_documents(docs, naming, shared)
        if not errors:
            return tuple(rules), []
    docs, errors = file_documents(name, text, tests=False)
    rules, compile_errors = compile_documents(docs, naming, shared)
    return tuple(rules), errors + compile_errors


def _yaml_files(root: Path) -> Iterator[Path]:
    seen: set[str] = set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.endswith(_SUFFIXES) and not name.startswith("."):
                yield Path(folder) / name


def _error_position(error: str) -> tuple[str, int]:
    found = re.match(r"(.*?):(\d+): ", error)
    return (found.group(1), int(found.group(2))) if found else (error, 0)


def _files_by_name(root: Path) -> list[tuple[str, Path]]:
    return sorted((file.relative_to(root).as_posix(), file) for file in _yaml_files(root))


def read_content_hash(path: Path) -> str:
    """The content hash `read_source(path)` would give, reading one file at a time (no texts kept)."""
    root = Path(os.path.realpath(path))
    try:
        return content_hash((name, file.read_text("utf-8")) for name, file in _files_by_name(root))
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{path}: cannot read policy file: {exc}") from exc


def read_source(
    path: Path, *, previous: PolicySnapshot | None = None, naming: LinkerdNaming | None = None
) -> PolicySource:
    """Read every `*.yaml`/`*.yml` below `path` (hidden folders skipped); raise PolicyError if unreadable.
    With `previous` (and the `naming` the reload compiles under), a policy file `previous` was compiled from
    unchanged is kept as its compiled file, not as text (`PolicySource.unchanged`)."""
    root = Path(os.path.realpath(path))
    if not root.is_dir():
        raise PolicyError(f"{path}: policy folder does not exist or is not a directory")
    reusable = previous.files if previous is not None else {}
    key = _naming_key(naming or LinkerdNaming())
    kept: list[tuple[str, str]] = []
    unchanged: dict[str, CompiledFile] = {}

    def each() -> Iterator[tuple[str, str]]:  # one text at a time, into the hash and then kept or let go
        for name, file in _files_by_name(root):
            text = file.read_text("utf-8")
            yield name, text
            prior = reusable.get(name)
            if prior is not None and prior.digest == file_digest(text, key):
                unchanged[name] = prior
            else:
                kept.append((name, text))

    try:
        digest = content_hash(each())
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{path}: cannot read policy file: {exc}") from exc
    return PolicySource(root, git_revision(root) or "", digest, tuple(kept), unchanged, key)


def _naming_key(naming: LinkerdNaming) -> tuple[str, str]:
    return naming.trust_domain, naming.control_plane_namespace


def compile_source(
    source: PolicySource,
    *,
    superusers: Iterable[str] = (),
    naming: LinkerdNaming | None = None,
    previous: PolicySnapshot | None = None,
) -> PolicySnapshot:
    """Compile `source`. The rules of a file whose text and Linkerd naming are those `previous` was
    compiled from are taken from `previous` as they are: a reload compiles only the files that changed,
    and the two snapshots share the rest while the old one drains. The garbage collector is paused
    meanwhile (`meshgate.policy.gcpause`)."""
    with collector_paused():
        return _compile_source(source, superusers, naming, previous)


def _compile_source(
    source: PolicySource,
    superusers: Iterable[str],
    naming: LinkerdNaming | None,
    previous: PolicySnapshot | None,
) -> PolicySnapshot:
    naming = naming or LinkerdNaming()
    superusers = frozenset(superusers)
    revision = source.revision(superusers, naming)
    reusable = previous.files if previous is not None else {}
    key = _naming_key(naming)
    shared = Shared(naming)
    if source.unchanged and (
        source.unchanged_naming != key
        or any(reusable.get(name) is not compiled for name, compiled in source.unchanged.items())
    ):
        raise ValueError("compile_source: the source was read against another snapshot or naming")
    texts = dict(source.policy_files())
    files: dict[str, CompiledFile] = {}
    errors: list[str] = []
    for name in sorted([*texts, *source.unchanged]):
        compiled = source.unchanged.get(name)
        if compiled is None:
            text = texts[name]
            digest = file_digest(text, key)
            compiled = reusable.get(name)
            if compiled is None or compiled.digest != digest:
                found, problems = compile_file(name, text, naming, shared)
                errors += problems
                compiled = CompiledFile(digest, found)
        files[name] = compiled
    rules = RuleChain(compiled.rules for compiled in files.values())
    if not errors and not rules:
        errors.append(f"{source.root}: no policy documents (*.yaml other than *_test.yaml) found")
    if errors:
        errors.sort(key=_error_position)
        header = f"{len(errors)} error(s) in policy revision {describe(revision, source.commit)}:\n"
        raise PolicyError(header + "\n".join(errors))
    return PolicySnapshot(
        revision, source.content_hash, rules, superusers, str(source.root), source.commit, files
    )


def load_policy(
    path: Path, *, superusers: Iterable[str] = (), naming: LinkerdNaming | None = None
) -> PolicySnapshot:
    """Load, validate and compile the policy folder at `path`; raise PolicyError listing every problem."""
    return compile_source(read_source(path), superusers=superusers, naming=naming)
