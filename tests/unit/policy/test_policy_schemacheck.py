"""The compiled schema checks agree with `jsonschema` on every document: valid ones, and thousands of
mutations of them (a missing or unknown key, a value of another type, an empty list or string, a name
that breaks the pattern). The loader trusts the compiled checks' "valid" without asking `jsonschema`."""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import pytest
from meshgate.policy.loader import read_source
from meshgate.policy.schemacheck import compile_schema
from meshgate.policy.yamlsrc import SourceDoc, _schema, parse_documents, schema_errors, schema_valid

ROOT = Path(__file__).resolve().parents[3]
FOLDERS = [
    ROOT / "policies" / "examples",
    ROOT / "tests" / "conformance" / "policy" / "policies",
    ROOT / "tests" / "e2e" / "policies",
]
REPLACEMENTS: list[Any] = [
    None, True, False, 0, 1, 1.5, "", "x", "Bad Name", "a" * 300, [], ["x"], [""], {}, {"x": 1},
    "enforce", "audit", "allow", "deny", "AccessPolicy", "PolicyTestSuite", "meshgate.dev/v1", [1], [None],
]  # fmt: skip
EXTRA_KEYS = ["x", "claim", "values", "issuer", "spiffe", "role", "subscriptions", "mode", "rules", "tests"]


def _documents() -> list[Any]:
    docs = []
    for folder in FOLDERS:
        for name, text in read_source(folder).files:
            parsed, _ = parse_documents(text, name)
            docs += [d.data for d in parsed]
    return docs


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += _paths(item, (*path, index))
    return out


def _mutate(doc: Any, rng: random.Random) -> Any:
    doc = copy.deepcopy(doc)
    for _ in range(rng.randint(1, 2)):
        path = rng.choice(_paths(doc)[1:])
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        move = rng.random()
        if move < 0.2 and isinstance(parent, dict):
            del parent[path[-1]]
        elif move < 0.35 and isinstance(parent[path[-1]], dict):
            parent[path[-1]][rng.choice(EXTRA_KEYS)] = rng.choice(REPLACEMENTS)
        else:
            parent[path[-1]] = copy.deepcopy(rng.choice(REPLACEMENTS))
    return doc


def _agree(data: Any) -> None:
    doc = SourceDoc("f.yaml", data, {})
    assert schema_valid(doc) == (schema_errors(doc) == []), data


DOCS = _documents()


def test_valid_documents_are_valid() -> None:
    assert len(DOCS) > 10
    for data in DOCS:
        assert schema_valid(SourceDoc("f.yaml", data, {}))
        _agree(data)


@pytest.mark.parametrize("seed", range(8))
def test_mutations_agree_with_jsonschema(seed: int) -> None:
    rng = random.Random(seed)
    refused = 0
    for _ in range(400):
        data = _mutate(rng.choice(DOCS), rng)
        _agree(data)
        refused += not schema_valid(SourceDoc("f.yaml", data, {}))
    assert refused > 200  # the mutations do reach the checks


def test_an_unsupported_keyword_is_refused_when_compiling() -> None:
    schema = copy.deepcopy(_schema())
    schema["$defs"]["name"]["format"] = "hostname"
    with pytest.raises(ValueError, match="does not support the keyword 'format'"):
        compile_schema(schema)
