"""The broker plugin reads principals as `meshgate.principal.kinds` does: one table, checked on both sides.

The shim refuses a `spiffe:` or `oidc:` role that none of meshgate's authentication providers proved
(`ProvenRoles`), and lets only workload credentials log in as a super-user (`WORKLOAD_KINDS`); both depend on
the namespaces kinds.py defines. `plugin-shim/src/test/resources/principal-namespaces.tsv` holds how kinds.py
reads a set of principals and kinds: this test checks the table against kinds.py (and that it covers every
namespace, prefix and credential kind kinds.py has), `PrincipalNamespaceTest` checks the shim against it.
If kinds.py changes on purpose, change `PrincipalNamespace.java` to match and the table with it.
"""

from __future__ import annotations

from pathlib import Path

from meshgate.principal import kinds
from meshgate.principal.kinds import PRODUCES, CredentialKind, Namespace, namespace_of

TABLE = (
    Path(__file__).resolve().parents[3]
    / "plugin-shim"
    / "src"
    / "test"
    / "resources"
    / "principal-namespaces.tsv"
)
PREFIXES = (kinds.SSO_PREFIX, kinds._SPIFFE_PREFIX)


def _rows(kind: str) -> list[tuple[str, str]]:
    """(namespace, text) of the table's rows of one kind (`principal` or `kind`)."""
    rows = []
    for line in TABLE.read_text(encoding="utf-8").split("\n"):
        if line and not line.startswith("#"):
            row_kind, namespace, text = line.split("\t", 2)
            if row_kind == kind:
                rows.append((namespace, text))
    return rows


def test_the_table_reads_principals_as_kinds_py_does() -> None:
    wrong = [
        f"{text!r}: kinds.py {namespace_of(text).value}, table {namespace}"
        for namespace, text in _rows("principal")
        if namespace_of(text).value != namespace
    ]
    assert not wrong, "kinds.py and the shim's table disagree; fix PrincipalNamespace.java too: " + "; ".join(
        wrong
    )


def test_the_table_covers_every_namespace_and_the_edges_of_every_prefix() -> None:
    principals = {text for _, text in _rows("principal")}
    assert {namespace for namespace, _ in _rows("principal")} == {n.value for n in Namespace}
    for prefix in PREFIXES:
        edges = {prefix, prefix.upper(), prefix.rstrip(":"), "x" + prefix, prefix + "x"}
        assert edges <= principals, f"add rows for {sorted(edges - principals)} to {TABLE.name}"


def test_the_table_names_the_namespace_every_credential_kind_produces() -> None:
    assert {text: namespace for namespace, text in _rows("kind")} == {
        kind.value: namespace.value for kind, namespace in PRODUCES.items()
    }
    assert {text for _, text in _rows("kind")} == {kind.value for kind in CredentialKind}
