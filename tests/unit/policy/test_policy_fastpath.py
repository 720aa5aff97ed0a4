"""The fast way of reading and compiling a policy file gives exactly what the exact way gives, and a
reload compiles only the files that changed."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import HEADER, WritePolicy
from meshgate.policy.loader import compile_source, read_source
from meshgate.policy.yamlfast import fast_documents
from meshgate.policy.yamlsrc import parse_documents
from meshgate.principal.linkerd import LinkerdNaming

ROOT = Path(__file__).resolve().parents[3]
FOLDERS = [ROOT / "policies" / "examples", ROOT / "tests" / "conformance" / "policy" / "policies"]

SAME = [
    "a: 1\nb: [true, no, ~, null, 1.5, 0x1f, 2026-01-01, '1', \"x\", plain]\n",
    "a: &x {b: [1, 2]}\nc: *x\n",
    "--- \n---\na: b\n---\n# only a comment\n",
    "a: !!str 1\nb: !!int '2'\n",
    "a: |\n  text\n  more\nb: >-\n  folded\n",
    "a: ''\nb: '=' \nc: <<x\nd: .inf\ne: -1\nf: +1\ng: ~x\n",
]
IRREGULAR = [
    "a: 1\na: 2\n",  # duplicate key: the exact path reports it
    "base: &b {x: 1}\nc: {<<: *b}\n",  # merge key
    "1: a\n",  # a key that is not a string
    "a: !custom x\n",  # an unknown tag
    "a: [\n",  # a syntax error
]


@pytest.mark.parametrize("text", SAME)
def test_fast_documents_hold_what_pyyaml_reads(text: str) -> None:
    fast = fast_documents(text, "f.yaml")
    exact, errors = parse_documents(text, "f.yaml")
    assert errors == [] and fast is not None
    assert [d.data for d in fast] == [d.data for d in exact]
    for doc, full in zip(fast, exact, strict=True):
        assert all(full.lines[path] == line for path, line in doc.lines.items())


@pytest.mark.parametrize("text", IRREGULAR)
def test_anything_irregular_goes_the_exact_way(text: str) -> None:
    assert fast_documents(text, "f.yaml") is None


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda f: f.name)
def test_fixture_policies_read_the_same_both_ways(folder: Path) -> None:
    for name, text in read_source(folder).files:
        fast = fast_documents(text, name)
        assert fast is not None
        assert [d.data for d in fast] == [d.data for d in parse_documents(text, name)[0]]


def _policy(name: str, rules: int) -> str:
    body = "".join(
        f"  - {{name: r{i}, effect: allow, subjects: [{{role: {name}-{i}}}], actions: [produce], "
        f"resources: [{name}]}}\n"
        for i in range(rules)
    )
    return HEADER + f"metadata: {{name: {name}}}\nrules:\n" + body


def test_a_reload_compiles_only_the_files_that_changed(write_policy: WritePolicy) -> None:
    folder = write_policy({"a.yaml": _policy("a", 3), "b.yaml": _policy("b", 2)})
    first = compile_source(read_source(folder))
    (folder / "b.yaml").write_text(_policy("b", 4), "utf-8")
    (folder / "c.yaml").write_text(_policy("c", 1), "utf-8")
    second = compile_source(read_source(folder), previous=first)
    assert [r.id for r in second.rules] == [
        *(f"a.yaml#r{i}" for i in range(3)), *(f"b.yaml#r{i}" for i in range(4)), "c.yaml#r0",
    ]  # fmt: skip
    assert all(new is old for new, old in zip(second.rules[:3], first.rules[:3], strict=True))
    assert second.rules[3] is not first.rules[3]
    fresh = compile_source(read_source(folder))
    assert second.rules == fresh.rules and second.revision == fresh.revision


def test_a_reload_keeps_the_texts_of_the_changed_files_only(write_policy: WritePolicy) -> None:
    folder = write_policy({"a.yaml": _policy("a", 3), "b.yaml": _policy("b", 2), "c.yaml": _policy("c", 1)})
    first = compile_source(read_source(folder))
    (folder / "b.yaml").write_text(_policy("b", 4), "utf-8")
    source = read_source(folder, previous=first)
    assert [name for name, _ in source.files] == ["b.yaml"]
    assert dict(source.unchanged) == {"a.yaml": first.files["a.yaml"], "c.yaml": first.files["c.yaml"]}
    assert source.content_hash == read_source(folder).content_hash
    second = compile_source(source, previous=first)
    fresh = compile_source(read_source(folder))
    assert second.rules == fresh.rules and second.revision == fresh.revision
    assert second.rules[0] is first.rules[0] and second.rules[-1] is first.rules[-1]


def test_a_source_read_against_one_snapshot_compiles_against_that_one_only(write_policy: WritePolicy) -> None:
    folder = write_policy({"a.yaml": _policy("a", 1)})
    first = compile_source(read_source(folder))
    source = read_source(folder, previous=first)
    with pytest.raises(ValueError, match="another snapshot or naming"):
        compile_source(source)
    with pytest.raises(ValueError, match="another snapshot or naming"):
        compile_source(source, previous=first, naming=LinkerdNaming(trust_domain="other.test"))
    assert compile_source(source, previous=first).rules[0] is first.rules[0]


def test_a_reload_under_another_naming_compiles_everything(write_policy: WritePolicy) -> None:
    folder = write_policy({"a.yaml": _policy("a", 2)})
    first = compile_source(read_source(folder))
    naming = LinkerdNaming(trust_domain="other.test")
    second = compile_source(read_source(folder), naming=naming, previous=first)
    assert second.rules == first.rules and second.rules[0] is not first.rules[0]


def test_a_refused_reload_keeps_nothing_of_the_bad_file(write_policy: WritePolicy) -> None:
    folder = write_policy({"a.yaml": _policy("a", 2)})
    first = compile_source(read_source(folder))
    (folder / "a.yaml").write_text(_policy("a", 2).replace("produce", "produc"), "utf-8")
    with pytest.raises(Exception, match="unknown action 'produc'"):
        compile_source(read_source(folder), previous=first)
    (folder / "a.yaml").write_text(_policy("a", 2), "utf-8")
    assert compile_source(read_source(folder), previous=first).rules[0] is first.rules[0]


def test_plain_words_resolve_as_pyyaml_resolves_them() -> None:
    """A plain scalar starting with a letter is a bool or null only as one of PyYAML's short words."""
    words = ["yes", "No", "TRUE", "false", "on", "OFF", "null", "Null", "NULL", "y", "n", "t", "o"]
    words += ["falsey", "nothing", "tenant-admin", "off-peak", "yesterday", "Nullable", "on-call"]
    text = "".join(f"k{i}: {word}\n" for i, word in enumerate(words))
    fast = fast_documents(text, "f.yaml")
    exact, _ = parse_documents(text, "f.yaml")
    assert fast is not None and fast[0].data == exact[0].data


def test_a_snapshot_reads_its_rules_from_its_files_as_one_sequence(write_policy: WritePolicy) -> None:
    """`PolicySnapshot.rules` is the files' own rules in order, not a copy: it reads as the tuple would."""
    folder = write_policy({"a.yaml": _policy("a", 3), "b.yaml": _policy("b", 2)})
    snapshot = compile_source(read_source(folder))
    rules = snapshot.rules
    flat = tuple(rule for compiled in snapshot.files.values() for rule in compiled.rules)
    assert len(rules) == 5 and tuple(rules) == flat and rules == flat and flat == rules
    assert [rules[i] for i in range(-5, 5)] == [*flat, *flat]
    assert rules[1:4] == flat[1:4] and hash(rules) == hash(flat)
    with pytest.raises(IndexError):
        rules[5]
