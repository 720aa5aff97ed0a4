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

from meshgate.config import load_config
from meshgate.errors import ConfigError, MeshgateError, PolicyError
from meshgate.model import AccessRequest, Decision
from meshgate.policy.diff import diff
from meshgate.policy.engine import PolicySnapshot
from meshgate.policy.lint import lint
from meshgate.policy.loader import compile_source, load_policy, read_source
from meshgate.policy.resources import parse_resource
from meshgate.policy.revision import describe
from meshgate.policy.testing import TestReport, load_suites, run_suites
from meshgate.policy.whocan import Grantee
from meshgate.principal.linkerd import LinkerdNaming

EXIT_YES, EXIT_NO, EXIT_ERROR = 0, 1, 2
_DEFAULT_NAMING = LinkerdNaming()


def _naming(args: argparse.Namespace) -> LinkerdNaming:
    return LinkerdNaming(trust_domain=args.trust_domain, control_plane_namespace=args.control_plane_namespace)


def _load(folder: Path, args: argparse.Namespace) -> PolicySnapshot:
    return load_policy(folder, superusers=args.superuser, naming=_naming(args))


def _claims(pairs: Sequence[str]) -> dict[str, tuple[str, ...]]:
    claims: dict[str, tuple[str, ...]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise MeshgateError(f"--claim {pair!r}: expected NAME=VALUE", code="bad_arguments")
        claims[key] = (*claims.get(key, ()), value)
    return claims


def _decision_json(decision: Decision, commit: str) -> dict[str, Any]:
    shadow = [{"rule": s.rule_id, "would_allow": s.would_allow} for s in decision.shadow]
    return {
        "allowed": decision.allowed,
        "rule": decision.rule_id,
        "reason_code": decision.reason_code,
        "reason": decision.reason,
        "revision": decision.revision,
        "commit": commit,
        "shadow": shadow,
    }


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
    decision = snapshot.decide(request)
    if args.json:
        print(json.dumps(_decision_json(decision, snapshot.commit), indent=2))
    else:
        print("yes" if decision.allowed else "no")
        revision = describe(decision.revision, snapshot.commit)
        print(f"  {decision.reason_code}: {decision.reason} (revision {revision})")
        for shadow in decision.shadow:
            print(f"  audit-only {shadow.rule_id} would {'allow' if shadow.would_allow else 'deny'}")
    return EXIT_YES if decision.allowed else EXIT_NO


def cmd_who_can(args: argparse.Namespace) -> int:
    snapshot = _load(args.policy, args)
    found = snapshot.who_can(args.action, parse_resource(args.resource), args.subscription)
    if args.json:
        print(json.dumps([_grantee(g) for g in found], indent=2))
        return EXIT_YES
    for grantee in found:
        audit = " (audit-only)" if grantee.audit else ""
        condition = f" if {grantee.condition}" if grantee.condition else ""
        print(f"{grantee.effect:5}  {grantee.subject}  ({grantee.rule_id}{audit}){condition}")
    if not any(g.effect == "allow" and not g.audit for g in found):
        print(f"no subject may {args.action} on {args.resource or '(no resource)'}")
    return EXIT_YES


def _grantee(grantee: Grantee) -> dict[str, Any]:
    fields = ("subject", "effect", "rule_id", "audit", "condition")
    return {name: getattr(grantee, name) for name in fields}


def cmd_validate(args: argparse.Namespace) -> int:
    try:
        naming, superusers = _validation_context(args)
    except ConfigError as exc:
        print(f"invalid: {args.config}: {exc.message}", file=sys.stderr)
        return EXIT_NO
    source = read_source(args.folder)
    try:
        snapshot = compile_source(source, superusers=superusers, naming=naming)
        suites = load_suites(source)
    except PolicyError as exc:
        print(f"invalid: {exc.message}", file=sys.stderr)
        return EXIT_NO
    warnings = lint(source.documents(tests=False)[0], snapshot.rules)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    tests = sum(len(s.tests) for s in suites)
    counts = f"{len(snapshot.rules)} rules, {len(suites)} suites ({tests} tests), {len(warnings)} warnings"
    print(f"valid: {counts}, revision {describe(snapshot.revision, snapshot.commit)}")
    return EXIT_NO if warnings and args.strict else EXIT_YES


def _validation_context(args: argparse.Namespace) -> tuple[LinkerdNaming, tuple[str, ...]]:
    """Linkerd naming and super-users: from `--config` (checked as start-up checks it), else the flags."""
    if args.config is None:
        return _naming(args), tuple(args.superuser)
    config = load_config(args.config)
    return config.identity.linkerd, config.policy.superusers


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
    source = read_source(args.folder)
    snapshot = compile_source(source, naming=_naming(args))
    suites = load_suites(source)
    if not suites:
        print(f"no test suites (*_test.yaml) in {args.folder}", file=sys.stderr)
        return EXIT_ERROR
    report = run_suites(snapshot, suites)
    print_report(report, args.verbose)
    return EXIT_YES if report.ok else EXIT_NO


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
    if args.repo is None:
        old, new = _load(Path(args.old), args), _load(Path(args.new), args)
    else:
        with tempfile.TemporaryDirectory() as tmp_old, tempfile.TemporaryDirectory() as tmp_new:
            old = _load(_export(args.repo, args.old, Path(tmp_old)), args)
            new = _load(_export(args.repo, args.new, Path(tmp_new)), args)
    lines = diff(old, new)
    for line in lines:
        print(line)
    print(
        f"{sum(ln[0] == '+' for ln in lines)} gained, {sum(ln[0] == '-' for ln in lines)} lost",
        file=sys.stderr,
    )
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


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trust-domain", default=_DEFAULT_NAMING.trust_domain, help="Linkerd trust domain")
    parser.add_argument(
        "--control-plane-namespace",
        default=_DEFAULT_NAMING.control_plane_namespace,
        help="Linkerd control plane ns",
    )


def _question(parser: argparse.ArgumentParser) -> None:
    _common(parser)
    parser.add_argument("--policy", type=Path, required=True, help="policy folder")
    parser.add_argument("--action", required=True, help="action name, e.g. topic.produce")
    parser.add_argument("--resource", default="", help="persistent://t/n/topic, t/n, t or cluster:NAME")
    parser.add_argument("--subscription", default="")
    parser.add_argument(
        "--superuser", action="append", default=[], help="a configured super-user (repeatable)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")


def _register_questions(subparsers: Any) -> None:
    check = subparsers.add_parser("check", help="may PRINCIPAL do ACTION on RESOURCE? (exit 0 yes, 1 no)")
    _question(check)
    check.add_argument("--principal", required=True)
    check.add_argument("--issuer", default="", help="OIDC issuer of the caller's token")
    check.add_argument("--claim", action="append", default=[], help="token claim NAME=VALUE (repeatable)")
    check.set_defaults(func=_guard(cmd_check))

    who = subparsers.add_parser("who-can", help="every subject that may do ACTION on RESOURCE")
    _question(who)
    who.set_defaults(func=_guard(cmd_who_can))


def _register_folder_commands(subparsers: Any) -> None:
    validate = subparsers.add_parser(
        "validate",
        help="parse, schema-check and compile a policy folder; warn about rules that mislead; "
        "with --config, check the service configuration as start-up does",
    )
    _common(validate)
    validate.add_argument(
        "--config",
        type=Path,
        help="service configuration (YAML): refused as `meshgate serve` would refuse it; its Linkerd naming "
        "and super-users replace the flags",
    )
    validate.add_argument("folder", type=Path)
    validate.add_argument("--strict", action="store_true", help="exit 1 when there are warnings")
    validate.add_argument(
        "--superuser", action="append", default=[], help="a configured super-user, for the revision"
    )
    validate.set_defaults(func=_guard(cmd_validate))

    test = subparsers.add_parser("test", help="run the *_test.yaml suites of a policy folder")
    _common(test)
    test.add_argument("folder", type=Path)
    test.add_argument("-v", "--verbose", action="store_true", help="list passing tests too")
    test.set_defaults(func=_guard(cmd_test))

    changes = subparsers.add_parser(
        "diff", help="access gained (+) and lost (-) between two policy revisions"
    )
    _common(changes)
    changes.add_argument(
        "--repo", type=Path, help="policy folder in a git checkout; OLD and NEW are revisions"
    )
    changes.add_argument("old")
    changes.add_argument("new")
    changes.set_defaults(func=_guard(cmd_diff), superuser=[])


def register(subparsers: Any) -> None:
    """Add check, who-can, validate, test and diff to the `meshgate` command."""
    _register_questions(subparsers)
    _register_folder_commands(subparsers)
