"""`meshgate audit query` and `meshgate audit export`: the file sink's records, filtered, for people and
auditors.

Exit codes: 0 done; 1 done, but some lines of the files were not audit records (each is named on stderr
with file:line, and listed in an export's query.json); 2 bad arguments or no audit file.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from meshgate.audit import evidence
from meshgate.audit.events import Record
from meshgate.audit.query import OUTCOMES, AuditFilter, QueryResult, outcome, parse_time, query
from meshgate.audit.sinks import encode
from meshgate.cli import options
from meshgate.errors import MeshgateError

_TABLE = (
    "time", "event", "outcome", "principal", "action", "resource", "why", "revision", "broker_id",
    "served_by", "count",
)  # fmt: skip


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("audit", help="read the audit trail: query it, export evidence")
    sub = parser.add_subparsers(dest="audit_command", required=True, metavar="SUBCOMMAND")
    q = sub.add_parser("query", help="print the audit records that match")
    _filters(q)
    options.add_output(q, table="tab-separated columns", json="one record per line, as the sink wrote it")
    q.set_defaults(func=run_query)
    e = sub.add_parser("export", help="write matching records as JSONL + CSV with a SHA-256 manifest")
    _filters(e)
    e.add_argument("--out", type=Path, required=True, help="new folder to write the export into")
    options.add_output(e, table="a sentence: how many, where, how to check", json="the same as an object")
    e.set_defaults(func=run_export)


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--file", type=Path, required=True, help="the file sink's path (audit.file.path); rotations included"
    )
    parser.add_argument("--since", help="from this ISO 8601 date/time, inclusive (UTC unless an offset)")
    parser.add_argument("--until", help="up to this ISO 8601 date/time, exclusive")
    parser.add_argument("--principal", help="principal, or a pattern with * and ?")
    parser.add_argument("--resource", help="tenant, namespace, topic or cluster name, or a pattern")
    parser.add_argument(
        "--acting-for",
        help="calls agents made on behalf of this principal (delegation.subject), or a pattern",
    )
    parser.add_argument(
        "--outcome", choices=OUTCOMES, help="allow or deny (authorize), authenticated or rejected"
    )


def _filter_of(args: argparse.Namespace) -> AuditFilter:
    return AuditFilter(
        since=parse_time(args.since, option="--since") if args.since else None,
        until=parse_time(args.until, option="--until") if args.until else None,
        principal=args.principal,
        resource=args.resource,
        outcome=args.outcome,
        acting_for=args.acting_for,
    )


def run_query(args: argparse.Namespace) -> int:
    result = QueryResult()
    try:
        records = query(args.file, _filter_of(args), result)
        if args.output == "json":
            for record in records:
                print(encode(record))
        else:
            _print_table(records)
    except MeshgateError as err:
        print(f"meshgate audit query: {err}", file=sys.stderr)
        return 2
    return _report_bad_lines(result)


def run_export(args: argparse.Namespace) -> int:
    result = QueryResult()
    try:
        wanted = _filter_of(args)
        query_doc = {"file": str(args.file), **wanted.as_json()}
        count = evidence.export(query(args.file, wanted, result), result, args.out, query_doc, _now())
    except MeshgateError as err:
        print(f"meshgate audit export: {err}", file=sys.stderr)
        return 2
    check = f"cd {args.out} && sha256sum -c {evidence.MANIFEST}"
    if args.output == "json":
        print(json.dumps({"records": count, "out": str(args.out), "check": check}))
    else:
        print(f"wrote {count} records to {args.out} (check with: {check})")
    return _report_bad_lines(result)


def _now() -> datetime:
    return datetime.now(UTC)


def _report_bad_lines(result: QueryResult) -> int:
    for bad in result.bad_lines:
        print(f"meshgate audit: {bad}", file=sys.stderr)
    return 1 if result.bad_lines else 0


def _print_table(records: Iterable[Record]) -> None:
    print("\t".join(_TABLE))
    for record in records:
        print("\t".join(_cells(record)))


def _cells(record: Record) -> list[str]:
    resource = dict(record.get("resource") or {})
    where = resource.get("topic") or resource.get("namespace") or resource.get("tenant") or ""
    why = record.get("rule_id") or record.get("reason_code") or record.get("code") or ""
    values = {
        **{name: str(record.get(name, "")) for name in _TABLE},
        "outcome": outcome(record),
        "resource": str(where or resource.get("cluster", "")),
        "why": str(why),
        "served_by": evidence.served_by(record),
        "count": str(record.get("count", 1)),
    }
    return [json.dumps(values[name])[1:-1] for name in _TABLE]  # escaped: one record, one line
