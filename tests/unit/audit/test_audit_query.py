"""`meshgate audit query` / `export` over the file sink's records, rotations included."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest
from meshgate.audit.sinks import FileWriter, encode
from meshgate.cli import main


def _authorize(time: str, principal: str, decision: str, topic: str) -> dict[str, object]:
    return {
        "time": time,
        "event": "authorize",
        "principal": principal,
        "credential_kind": "certificate_chain",
        "action": "topic.produce",
        "resource": {"tenant": "acme", "namespace": "acme/payments", "topic": topic},
        "decision": decision,
        "rule_id": "payments.yaml#writers" if decision == "allow" else "",
        "reason_code": "no_match" if decision == "deny" else "matched",
        "revision": "r1",
        "broker_id": "broker-0",
        "request_id": "q",
        "peer": "10.0.0.7:5000",
    }


WRITER = "spiffe://cluster.local/ns/payments/sa/writer"
READER = "spiffe://cluster.local/ns/payments/sa/reader"
ORDERS = "persistent://acme/payments/orders"
RECORDS = [
    _authorize("2026-07-01T09:00:00.000+00:00", WRITER, "allow", ORDERS),
    _authorize("2026-08-15T10:00:00.000+00:00", READER, "deny", ORDERS),
    {
        "time": "2026-09-01T00:00:00.000+00:00",
        "event": "authenticate",
        "presented": "token",
        "result": "rejected",
        "code": "expired",
    },
    _authorize("2026-10-02T10:00:00.000+00:00", READER, "deny", "persistent://acme/payments/refunds"),
]


@pytest.fixture
def audit_file(tmp_path: Path) -> Path:
    """The records written by the real file sink, rotated so they span three files."""
    path = tmp_path / "audit.jsonl"
    writer = FileWriter(path, max_bytes=1, backups=5)  # every write rotates: one record per file
    for record in RECORDS:
        writer.write([encode(record)])
    writer.close()
    assert (tmp_path / "audit.jsonl.3").exists()
    return path


def _query(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[dict[str, object]], str]:
    code = main(["audit", "query", "--output", "json", *argv])
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err


def test_denials_in_a_quarter_across_rotated_files(
    audit_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, found, err = _query(
        capsys,
        "--file",
        str(audit_file),
        "--since",
        "2026-07-01",
        "--until",
        "2026-10-01",
        "--outcome",
        "deny",
    )
    assert (code, err) == (0, "")
    assert [r["time"] for r in found] == ["2026-08-15T10:00:00.000+00:00"]


def test_filters_by_principal_and_resource_patterns(
    audit_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, found, _ = _query(
        capsys, "--file", str(audit_file), "--principal", "*/sa/reader", "--resource", "*/refunds"
    )
    assert [r["time"] for r in found] == ["2026-10-02T10:00:00.000+00:00"]
    _, everything, _ = _query(capsys, "--file", str(audit_file))
    assert [r["time"] for r in everything] == [r["time"] for r in RECORDS]  # oldest first


def test_a_line_that_is_not_a_record_is_named_not_skipped(
    audit_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with audit_file.open("a") as f:
        f.write('{"event": "authorize", "time": "2026-10-03T00:00:00Z", "decision": "deny"}\n')
        f.write("{truncated\n")
    code, found, err = _query(capsys, "--file", str(audit_file), "--outcome", "deny")
    assert code == 1
    assert len(found) == 3
    assert f"{audit_file}:3: not a JSON record" in err


def test_bad_arguments_say_what_is_wrong(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "query", "--file", str(tmp_path / "none.jsonl")]) == 2
    assert "no audit file at" in capsys.readouterr().err
    (tmp_path / "a.jsonl").write_text("")
    assert main(["audit", "query", "--file", str(tmp_path / "a.jsonl"), "--since", "last week"]) == 2
    assert "--since: 'last week' is not an ISO 8601 date" in capsys.readouterr().err


def test_table_keeps_one_record_per_line(audit_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with audit_file.open("a") as f:
        f.write(encode(_authorize("2026-10-04T00:00:00Z", "evil\nprincipal", "deny", ORDERS)) + "\n")
    assert main(["audit", "query", "--file", str(audit_file)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 + len(RECORDS) + 1
    assert "evil\\nprincipal" in lines[-1]


def test_export_writes_records_and_a_manifest_that_checks(
    audit_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "evidence-q3"
    code = main(["audit", "export", "--file", str(audit_file), "--outcome", "deny", "--out", str(out)])
    assert code == 0
    assert "wrote 2 records" in capsys.readouterr().out
    manifest = (out / "SHA256SUMS").read_text().splitlines()
    for line in manifest:
        digest, name = line.split("  ")
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest
    assert sorted(line.split("  ")[1] for line in manifest) == ["query.json", "records.csv", "records.jsonl"]
    rows = list(csv.DictReader((out / "records.csv").open()))
    assert [(r["outcome"], r["principal"], r["topic"]) for r in rows] == [
        ("deny", READER, ORDERS),
        ("deny", READER, "persistent://acme/payments/refunds"),
    ]
    query = json.loads((out / "query.json").read_text())
    assert query["query"]["outcome"] == "deny" and query["records"] == 2
    assert len(query["sources"]) == 4 and query["unreadable_lines"] == []


def test_export_never_overwrites_and_leaves_nothing_half_written(
    audit_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "evidence"
    out.mkdir()
    assert main(["audit", "export", "--file", str(audit_file), "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (
        main(["audit", "export", "--file", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "x")]) == 2
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in [*audit_file.parent.glob("audit.jsonl*"), out]
    )


def test_answers_the_shim_served_say_so_and_how_many_they_stand_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An auditor counting allows must see that one reported row stands for `count` identical answers."""
    path = tmp_path / "audit.jsonl"
    cached = _authorize("2026-07-01T09:00:01.000+00:00", WRITER, "allow", ORDERS) | {
        "served_by": "shim_cache",
        "count": 7,
        "last_time": "2026-07-01T09:00:01.900+00:00",
    }
    writer = FileWriter(path, max_bytes=1 << 20, backups=1)
    writer.write([encode(RECORDS[0]), encode(cached), encode(RECORDS[2])])
    writer.close()
    out = tmp_path / "evidence"
    assert main(["audit", "export", "--file", str(path), "--out", str(out)]) == 0
    rows = list(csv.DictReader((out / "records.csv").open()))
    assert [(r["event"], r["served_by"], r["count"], r["last_time"]) for r in rows] == [
        ("authorize", "service", "1", ""),
        ("authorize", "shim_cache", "7", "2026-07-01T09:00:01.900+00:00"),
        ("authenticate", "", "1", ""),
    ]
    capsys.readouterr()
    assert main(["audit", "query", "--file", str(path), "--principal", WRITER]) == 0
    header, *lines = capsys.readouterr().out.splitlines()
    cells = [dict(zip(header.split("\t"), line.split("\t"), strict=True)) for line in lines]
    assert [(c["served_by"], c["count"]) for c in cells] == [("service", "1"), ("shim_cache", "7")]
