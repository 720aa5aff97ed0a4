"""Policy commands: check, who-can, validate, test, diff.

Exit codes follow `kubectl auth can-i` and `opa test`: 0 yes / valid / all passed, 1 no / invalid /
a test failed, 2 the question could not be answered (bad folder, bad arguments).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from meshgate.cli import options
from meshgate.errors import ConfigError, MeshgateError, PolicyError
from meshgate.model import AccessRequest
from meshgate.policy.diff import diff
from meshgate.policy.engine import PolicySnapshot
from meshgate.policy.explain import explain_decision
from meshgate.policy.lint import lint
from meshgate.policy.loader import compile_source, load_policy, read_source
from meshgate.policy.resources import parse_resource
from meshgate.policy.revision import describe
from meshgate.policy.testing import TestReport, load_suites, run_suites
from meshgate.server.wire import decision_json, grantee_json

EXIT_YES, EXIT_NO, EXIT_ERROR = 0, 1, 2


def _load(folder: Path, args: argparse.Namespace) -> PolicySnapshot:
    naming, superusers = options.policy_context(args)
    return load_policy(folder, superusers=superusers, naming=naming)


def _folder(args: argparse.Namespace) -> Path:
    """`--policy`, or the folder given the old way, as the positional argument."""
    folder: Path | None = args.policy or args.folder
    if folder is None:
        raise MeshgateError("no policy folder: pass --policy DIR", code="bad_arguments")
    return folder


def _print_json(document: Any) -> None:
    print(json.dumps(document, indent=2))


def _claims(pairs: Sequence[str]) -> dict[str, tuple[str, ...]]:
    claims: dict[str, tuple[str, ...]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise MeshgateError(f"--claim {pair!r}: expected NAME=VALUE", code="bad_arguments")
        claims[key] = (*claims.get(key, ()), value)
    return claims


def cmd_check(args: argparse.Namespace) -> int:
    snapshot = _load(args.policy, args)
    request = AccessRequest(
        args.principal,
        args.action,
        parse_resource(args.resource),
        args.subscription,
        args.issuer,
        _claims(args.claim),
    )
    explained = explain_decision(snapshot, request)
    decision = explained.decision
    if args.output == "json":
        _print_json(decision_json(explained, snapshot.commit))
    else:
        print("yes" if decision.allowed else "no")
        revision = describe(decision.revision, snapshot.commit)
        print(f"  {decision.reason_code}: {decision.reason} (revision {revision})")
        if explained.subject:
            print(f"  matched subject: {explained.subject}")
        for shadow, subject in zip(decision.shadow, explained.shadow_subjects, strict=True):
            effect = "allow" if shadow.would_allow else "deny"
            print(f"  audit-only {shadow.rule_id} would {effect} (matched subject: {subject})")
    return EXIT_YES if decision.allowed else EXIT_NO


def cmd_who_can(args: argparse.Namespace) -> int:
    snapshot = _load(args.policy, args)
    found = snapshot.who_can(args.action, parse_resource(args.resource), args.subscription)
    if args.output == "json":
        _print_json([grantee_json(g) for g in found])
        return EXIT_YES
    for grantee in found:
        audit = " (audit-only)" if grantee.audit else ""
        condition = f" if {grantee.condition}" if grantee.condition else ""
        print(f"{grantee.effect:5}  {grantee.subject}  ({grantee.rule_id}{audit}){condition}")
    if not any(g.effect == "allow" and not g.audit for g in found):
        print(f"no subject may {args.action} on {args.resource or '(no resource)'}")
    return EXIT_YES


def cmd_validate(args: argparse.Namespace) -> int:
    try:
        naming, superusers = options.policy_context(args)
    except ConfigError as exc:
        return _invalid(args, f"{args.config}: {exc.message}")
    source = read_source(_folder(args))
    try:
        snapshot = compile_source(source, superusers=superusers, naming=naming)
        suites = load_suites(source)
    except PolicyError as exc:
        return _invalid(args, exc.message)
    warnings = lint(source.documents(tests=False)[0], snapshot.rules)
    tests = sum(len(s.tests) for s in suites)
    revision = describe(snapshot.revision, snapshot.commit)
    if args.output == "json":
        _print_json(
            {"valid": True, "rules": len(snapshot.rules), "suites": len(suites), "tests": tests}
            | {"warnings": warnings, "revision": snapshot.revision, "commit": snapshot.commit}
        )
    else:
        for warning in warnings:
            print(f"warning: {warning}", file=sys.stderr)
        counts = f"{len(snapshot.rules)} rules, {len(suites)} suites ({tests} tests)"
        print(f"valid: {counts}, {len(warnings)} warnings, revision {revision}")
    return EXIT_NO if warnings and args.strict else EXIT_YES


def _invalid(args: argparse.Namespace, message: str) -> int:
    if args.output == "json":
        _print_json({"valid": False, "error": message})
    else:
        print(f"invalid: {message}", file=sys.stderr)
    return EXIT_NO


def print_report(report: TestReport, verbose: bool) -> None:
    for result in report.results:
        label = f"{result.suite}/{result.test.name}"
        if not result.passed:
            print(f"FAIL {label} ({result.test.where}): {result.failure}")
        elif verbose:
            print(f"PASS {label}")
    total = len(report.results)
    print("-" * 72)
    print(f"PASS: {report.passed}/{total}")
    if report.failed:
        print(f"FAIL: {report.failed}/{total}")


def cmd_test(args: argparse.Namespace) -> int:
    folder = _folder(args)
    source = read_source(folder)
    naming, superusers = options.policy_context(args)
    snapshot = compile_source(source, superusers=superusers, naming=naming)
    suites = load_suites(source)
    if not suites:
        print(f"no test suites (*_test.yaml) in {folder}", file=sys.stderr)
        return EXIT_ERROR
    report = run_suites(snapshot, suites)
    if args.output == "json":
        _print_json(_report_json(report))
    else:
        print_report(report, args.verbose)
    return EXIT_YES if report.ok else EXIT_NO


def _report_json(report: TestReport) -> dict[str, Any]:
    results = [
        {"suite": r.suite, "test": r.test.name, "where": r.test.where, "passed": r.passed}
        | {"failure": r.failure, "rule_id": r.decision.rule_id, "reason_code": r.decision.reason_code}
        for r in report.results
    ]
    return {"passed": report.passed, "failed": report.failed, "results": results}


def _git(repo: Path, *argv: str) -> bytes:
    done = subprocess.run(["git", "-C", str(repo), *argv], capture_output=True, check=False)
    if done.returncode != 0:
        raise PolicyError(f"git {' '.join(argv)} failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def _export(folder: Path, rev: str, into: Path) -> Path:
    """Extract the policy folder as it was at `rev` (via `git archive`) into `into`."""
    top = Path(_git(folder, "rev-parse", "--show-toplevel").decode().strip())
    prefix = _git(folder, "rev-parse", "--show-prefix").decode().strip().rstrip("/")
    archive = into / "rev.tar"
    archive.write_bytes(_git(top, "archive", "--format=tar", f"{rev}:{prefix}" if prefix else rev))
    target = into / "tree"
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    return target


def cmd_diff(args: argparse.Namespace) -> int:
    if args.policy is None:
        old, new = _load(Path(args.old), args), _load(Path(args.new), args)
    else:
        with tempfile.TemporaryDirectory() as tmp_old, tempfile.TemporaryDirectory() as tmp_new:
            old = _load(_export(args.policy, args.old, Path(tmp_old)), args)
            new = _load(_export(args.policy, args.new, Path(tmp_new)), args)
    lines = diff(old, new)
    gained, lost = sum(ln[0] == "+" for ln in lines), sum(ln[0] == "-" for ln in lines)
    if args.output == "json":
        _print_json({"gained": gained, "lost": lost, "lines": lines})
        return EXIT_YES
    for line in lines:
        print(line)
    print(f"{gained} gained, {lost} lost", file=sys.stderr)
    return EXIT_YES


def _guard(func: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        try:
            code: int = func(args)
            return code
        except MeshgateError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_ERROR

    return run


def _question(parser: argparse.ArgumentParser) -> None:
    options.add_policy(parser)
    options.add_policy_context(parser)
    parser.add_argument("--action", required=True, help="action name, e.g. topic.produce")
    parser.add_argument("--resource", default="", help="persistent://t/n/topic, t/n, t or cluster:NAME")
    parser.add_argument("--subscription", default="")


def _register_questions(subparsers: Any) -> None:
    check = subparsers.add_parser("check", help="may PRINCIPAL do ACTION on RESOURCE? (exit 0 yes, 1 no)")
    _question(check)
    check.add_argument("--principal", required=True)
    check.add_argument("--issuer", default="", help="OIDC issuer of the caller's token")
    check.add_argument("--claim", action="append", default=[], help="token claim NAME=VALUE (repeatable)")
    options.add_output(check, table="yes or no, the reason", json="the decision as an object")
    check.set_defaults(func=_guard(cmd_check))

    who = subparsers.add_parser("who-can", help="every subject that may do ACTION on RESOURCE")
    _question(who)
    options.add_output(who, table="a line per subject", json="a list of grantees")
    who.set_defaults(func=_guard(cmd_who_can))


def _folder_argument(parser: argparse.ArgumentParser) -> None:
    """`--policy DIR`, and the positional folder it replaces (hidden)."""
    options.add_policy(parser, required=False, help="policy folder (required)")
    parser.add_argument("folder", type=Path, nargs="?", help=argparse.SUPPRESS)


def _register_folder_commands(subparsers: Any) -> None:
    validate = subparsers.add_parser(
        "validate",
        help="parse, schema-check and compile a policy folder; warn about rules that mislead; "
        "with --config, check the service configuration as start-up does",
    )
    _folder_argument(validate)
    options.add_policy_context(validate)
    validate.add_argument("--strict", action="store_true", help="exit 1 when there are warnings")
    options.add_output(validate, table="valid or invalid, warnings on stderr", json="one object")
    validate.set_defaults(func=_guard(cmd_validate))

    test = subparsers.add_parser("test", help="run the *_test.yaml suites of a policy folder")
    _folder_argument(test)
    options.add_policy_context(test)
    test.add_argument("-v", "--verbose", action="store_true", help="list passing tests too")
    options.add_output(test, table="failures and totals", json="every result")
    test.set_defaults(func=_guard(cmd_test))

    changes = subparsers.add_parser(
        "diff", help="access gained (+) and lost (-) between two policy revisions"
    )
    options.add_policy(
        changes, required=False, help="policy folder in a git checkout; OLD and NEW are git revisions"
    )
    changes.add_argument("--repo", dest="policy", type=Path, help=argparse.SUPPRESS)
    options.add_policy_context(changes)
    changes.add_argument("old", metavar="OLD", help="old policy folder, or git revision with --policy")
    changes.add_argument("new", metavar="NEW", help="new policy folder, or git revision with --policy")
    options.add_output(changes, table="a line per change", json="counts and lines")
    changes.set_defaults(func=_guard(cmd_diff))


def register(subparsers: Any) -> None:
    """Add check, who-can, validate, test and diff to the `meshgate` command."""
    _register_questions(subparsers)
    _register_folder_commands(subparsers)
