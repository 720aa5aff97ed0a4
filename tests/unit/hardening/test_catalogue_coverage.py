"""Every attack-catalogue item (J1..J26, X1..X16) maps to at least one case, and every case named exists.

The item list is fixed here (the catalogue is outside the repository); when the catalogue file is present,
its ids are read and compared too.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conformance.oidc.build import iter_cases as oidc_cases
from tests.conformance.x509.build import load_cases as x509_cases
from tests.unit.hardening import jwt_attacks, x509_attacks

ROOT = Path(__file__).resolve().parents[3]
CATALOGUE = yaml.safe_load(Path(__file__).with_name("catalogue.yaml").read_text())
REFERENCE = Path("/work/shared/reference/security-catalogue.md")
ITEMS = ["J1", "J1b", "J2", "J2b", *(f"J{i}" for i in range(3, 27)), *(f"X{i}" for i in range(1, 17))]


def _known() -> dict[str, set[str]]:
    return {
        "oidc": {case.case_id for case in oidc_cases()},
        "x509": {case["id"] for case in x509_cases()},
        "jwt": {a.case_id for a in jwt_attacks.ATTACKS},
        "x509h": {a.case_id for a in x509_attacks.ATTACKS},
    }


def _cases(entry: Any) -> list[str]:
    return list(entry["cases"] if isinstance(entry, dict) else entry)


def _test_exists(ref: str) -> bool:
    path, _, name = ref.partition("::")
    file = ROOT / path
    if not file.is_file():
        return False
    tree = ast.parse(file.read_text())
    return any(isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == name for n in tree.body)


def test_every_item_is_mapped() -> None:
    assert sorted(CATALOGUE) == sorted(ITEMS)
    assert all(_cases(CATALOGUE[item]) for item in ITEMS)


@pytest.mark.skipif(not REFERENCE.is_file(), reason="catalogue file not present on this machine")
def test_item_list_matches_the_catalogue_file() -> None:
    found = set(re.findall(r"^\| (J\d+b?|X\d+) \|", REFERENCE.read_text(), flags=re.MULTILINE))
    assert found == set(ITEMS)


@pytest.mark.parametrize("item", ITEMS)
def test_references_resolve(item: str) -> None:
    known = _known()
    for ref in _cases(CATALOGUE[item]):
        kind, _, name = ref.partition(":")
        if kind == "test":
            assert _test_exists(name), f"{item}: no test {name}"
        else:
            assert name in known[kind], f"{item}: no {kind} case {name!r}"


def test_gaps_are_few_and_explained() -> None:
    gaps = {item: entry["gap"] for item, entry in CATALOGUE.items() if isinstance(entry, dict)}
    assert set(gaps) == {"J26", "X15"}
    assert all(len(reason) > 40 for reason in gaps.values())


def test_every_rejection_case_names_its_code() -> None:
    assert all(a.error for a in (*jwt_attacks.ATTACKS, *x509_attacks.ATTACKS))
