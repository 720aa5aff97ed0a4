"""`meshgate check | who-can | validate | test | diff`: output and exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from meshgate.cli import main

from tests.unit.policy.conftest import HEADER, WritePolicy

WRITER = "spiffe://meshgate.test/ns/payments/sa/writer"
TOPIC = "persistent://acme/payments/orders"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_check_allowed_and_denied(examples: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "check",
        "--policy",
        str(examples),
        "--principal",
        WRITER,
        "--action",
        "topic.produce",
        "--resource",
        TOPIC,
    )
    assert code == 0 and out.startswith("yes\n  allowed_by_rule: rule payments.yaml#writer-produces allows")
    assert out.splitlines()[2] == f"  matched subject: {WRITER}"
    code, out, _ = run(
        capsys,
        "check",
        "--policy",
        str(examples),
        "--principal",
        WRITER,
        "--action",
        "topic.consume",
        "--resource",
        TOPIC,
        "--subscription",
        "s",
    )
    assert code == 1 and out.startswith("no\n  no_matching_rule: ")


def test_check_json_with_claims_and_superuser(examples: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["check", "--policy", str(examples), "--principal", "alice", "--action", "topic.consume",
            "--resource", TOPIC, "--subscription", "s", "--issuer", "http://127.0.0.1:8901",
            "--claim", "groups=staff", "--claim", "groups=payments-oncall", "--output", "json"]  # fmt: skip
    code, out, _ = run(capsys, *args)
    answer = json.loads(out)
    assert code == 0
    assert answer["allowed"] is True and answer["rule_id"] == "sso.yaml#oncall-reads-payments"
    assert answer["subject"] == "oidc:http://127.0.0.1:8901[groups=payments-oncall]"
    # one shape with /v1/explain: the rule is `rule_id`, as HTTP and the audit log name it (was `rule`)
    keys = ["allowed", "rule_id", "subject", "reason_code", "reason", "revision", "commit", "shadow"]
    assert list(answer) == keys
    code, out, _ = run(
        capsys,
        "check",
        "--policy",
        str(examples),
        "--principal",
        "root",
        "--action",
        "superuser",
        "--superuser",
        "root",
        "--output",
        "json",
    )
    assert code == 0 and json.loads(out)["reason_code"] == "superuser"


def test_check_errors_exit_2(examples: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        capsys, "check", "--policy", str(tmp_path / "nope"), "--principal", "p", "--action", "topic.lookup"
    )
    assert code == 2 and "policy folder does not exist" in err
    code, _, err = run(
        capsys,
        "check",
        "--policy",
        str(examples),
        "--principal",
        "p",
        "--action",
        "topic.lookup",
        "--resource",
        "a/b/c/d",
    )
    assert code == 2 and "error: bad_request" in err
    code, _, err = run(
        capsys,
        "check",
        "--policy",
        str(examples),
        "--principal",
        "p",
        "--action",
        "topic.lookup",
        "--claim",
        "novalue",
    )
    assert code == 2 and "expected NAME=VALUE" in err


def test_who_can(examples: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "who-can",
        "--policy",
        str(examples),
        "--action",
        "topic.produce",
        "--resource",
        "persistent://orders-team/prod/x",
    )
    assert code == 0
    assert out.splitlines() == [
        "allow  spiffe://meshgate.test/ns/orders/sa/*  (teams.yaml#namespace-owns-team-tenant)"
    ]
    legacy = "persistent://acme/payments/legacy-x"
    code, out, _ = run(
        capsys,
        "who-can",
        "--policy",
        str(examples),
        "--action",
        "topic.produce",
        "--resource",
        legacy,
        "--output",
        "json",
    )
    subjects = {(g["subject"], g["effect"]) for g in json.loads(out)}
    assert (WRITER, "allow") in subjects and ("spiffe://meshgate.test/ns/payments/sa/*", "deny") in subjects


def test_validate(examples: Path, write_policy: WritePolicy, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "validate", "--policy", str(examples))
    assert code == 0 and out.startswith("valid: ")
    bad = write_policy({"p.yaml": HEADER + "metadata: {name: p}\nrules: []\n"})
    code, _, err = run(capsys, "validate", "--policy", str(bad))
    assert code == 1 and "p.yaml:4: rules: [] should be non-empty" in err


def test_validate_warns_with_file_and_line(
    write_policy: WritePolicy, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rules that read like more than they do are reported; `--strict` makes a warning fail the check."""
    folder = write_policy(
        {
            "p.yaml": HEADER
            + """\
metadata: {name: p}
rules:
  - {name: root, effect: allow, subjects: [{role: root}], actions: ["*"], resources: ["*"]}
  - {name: ops, effect: allow, subjects: [{role: ops}], actions: [superuser], resources: ["*"]}
  - {name: no-sinks, effect: deny, subjects: [{role: ops}], actions: [namespace.sinks], resources: ["*"]}
"""
        }
    )
    code, out, err = run(capsys, "validate", "--policy", str(folder))
    assert code == 0 and out.startswith("valid: 3 rules, 0 suites (0 tests), 3 warnings, revision sha256:")
    lines = err.splitlines()
    assert [line.split(": ")[:2] for line in lines] == [["warning", "p.yaml:5"]] * 2 + [
        ["warning", "p.yaml:7"]
    ]
    assert "add a rule with `actions: [superuser]`" in lines[0]
    assert "deny rule 'p.yaml#no-sinks' never runs for role:ops where rule 'p.yaml#ops'" in lines[2]
    code, _, _ = run(capsys, "validate", "--strict", "--policy", str(folder))
    assert code == 1


def test_validate_checks_the_service_configuration(
    examples: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "meshgate.yaml"
    issuer = "{issuer: https://sso.example.test, audiences: [pulsar], principal: %s}"
    config.write_text("oidc:\n  issuers: [" + issuer % '"oidc:{iss}#{email}"' + "]\n")
    code, out, _ = run(capsys, "validate", "--config", str(config), "--policy", str(examples))
    assert code == 0 and out.startswith("valid: ")
    config.write_text("oidc:\n  issuers: [" + issuer % "preferred_username" + "]\n")
    code, _, err = run(capsys, "validate", "--config", str(config), "--policy", str(examples))
    assert code == 1
    assert err == (
        f"invalid: {config}: oidc.issuers[0].principal: 'preferred_username' would copy the claim into the "
        "principal as it is, so a token could name a workload or a super-user; SSO principals start with "
        "'oidc:': write \"oidc:{iss}#{preferred_username}\"\n"
    )


def test_validate_refuses_sso_issuers_that_share_principals(
    examples: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "meshgate.yaml"
    issuer = "{issuer: https://%s.example.test, audiences: [pulsar], principal: %s}"
    both = issuer % ("corp", '"oidc:{email}"') + ", " + issuer % ("partners", '"oidc:{email}"')
    config.write_text("oidc:\n  issuers: [" + both + "]\n")
    code, _, err = run(capsys, "validate", "--config", str(config), "--policy", str(examples))
    assert code == 1
    assert err.startswith(
        f"invalid: {config}: oidc.issuers[1] ('https://partners.example.test') and oidc.issuers[0] "
        "('https://corp.example.test') are SSO issuers whose principal templates 'oidc:{email}' and "
        "'oidc:{email}' can render the same principal"
    )
    config.write_text("oidc:\n  issuers: [" + both.replace("oidc:{email}", "oidc:{iss}#{email}") + "]\n")
    code, out, _ = run(capsys, "validate", "--config", str(config), "--policy", str(examples))
    assert code == 0 and out.startswith("valid: ")


SUITE = """\
apiVersion: meshgate.dev/v1
kind: PolicyTestSuite
metadata: {name: mine}
tests:
  - {name: writer-produces, principal: app, action: topic.produce, resource: "a", expect: allow}
  - {name: wrong-rule, principal: app, action: topic.produce, resource: "a", expect: allow, rule: "p.yaml#x"}
  - {name: wrong-answer, principal: app, action: topic.consume, resource: "a", expect: allow}
"""
RULES = (
    HEADER
    + """\
metadata: {name: p}
rules:
  - {name: r, effect: allow, subjects: [{role: app}], actions: [produce], resources: [a]}
"""
)


def test_test_command(examples: Path, write_policy: WritePolicy, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "test", "--policy", str(examples))
    assert code == 0 and "FAIL" not in out and "PASS: 27/27" in out
    folder = write_policy({"p.yaml": RULES, "p_test.yaml": SUITE})
    code, out, _ = run(capsys, "test", "--policy", str(folder), "-v")
    assert code == 1
    assert out.splitlines() == [
        "PASS mine/writer-produces",
        "FAIL mine/wrong-rule (p_test.yaml:6): expected rule 'p.yaml#x'; "
        "got allow by p.yaml#r (allowed_by_rule): rule p.yaml#r allows 'app' to topic.produce on a",
        "FAIL mine/wrong-answer (p_test.yaml:7): expected allow; got deny by - (no_matching_rule): "
        "no rule allows 'app' to topic.consume on a; access is denied by default",
        "-" * 72,
        "PASS: 1/3",
        "FAIL: 2/3",
    ]


def test_test_command_json_names_the_rule_as_explain_does(
    write_policy: WritePolicy, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_policy({"p.yaml": RULES, "p_test.yaml": SUITE})
    code, out, _ = run(capsys, "test", "--policy", str(folder), "--output", "json")
    report = json.loads(out)
    assert code == 1 and (report["passed"], report["failed"]) == (1, 2)
    wrong_rule = next(r for r in report["results"] if r["test"] == "wrong-rule")
    assert wrong_rule["rule_id"] == "p.yaml#r" and "rule" not in wrong_rule
    assert wrong_rule["reason_code"] == "allowed_by_rule" and not wrong_rule["passed"]


def test_test_command_without_suites_and_with_bad_suite(
    write_policy: WritePolicy, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_policy({"p.yaml": RULES})
    assert run(capsys, "test", "--policy", str(folder))[0] == 2
    folder = write_policy(
        {"p.yaml": RULES, "p_test.yaml": SUITE.replace("expect: allow}", "expect: maybe}", 1)}, folder="b"
    )
    code, _, err = run(capsys, "test", "--policy", str(folder))
    assert code == 2 and "p_test.yaml:5: tests.0.expect: 'maybe' is not one of ['allow', 'deny']" in err


def test_diff_folders(write_policy: WritePolicy, capsys: pytest.CaptureFixture[str]) -> None:
    old = write_policy({"p.yaml": RULES}, folder="old")
    deny = (
        "  - {name: d, effect: deny, subjects: [{role: app}], actions: [topic.produce], resources: [a/x]}\n"
    )
    new_rules = RULES.replace("actions: [produce]", "actions: [topic.produce]") + deny
    new = write_policy({"p.yaml": new_rules}, folder="new")
    code, out, err = run(capsys, "diff", str(old), str(new))
    assert code == 0
    assert out.splitlines() == [
        "- role:app → topic.lookup → a  (allow removed, p.yaml#r)",
        "- role:app → topic.produce → a/x  (new deny, p.yaml#d)",
    ]
    assert err.strip() == "0 gained, 2 lost"


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_diff_two_git_revisions(write_policy: WritePolicy, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_policy({"p.yaml": RULES}, folder="repo/policies")
    repo = folder.parent
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t", "GIT_CONFIG_GLOBAL": "/dev/null"}  # fmt: skip

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("add", ".")
    git("commit", "-q", "-m", "one")
    (folder / "p.yaml").write_text(RULES.replace("resources: [a]", "resources: [a, b]"))
    git("commit", "-q", "-am", "two")
    code, out, err = run(capsys, "diff", "--policy", str(folder), "HEAD~1", "HEAD")
    assert code == 0, err
    assert out.splitlines() == [
        "+ role:app → topic.lookup → b  (allow, p.yaml#r)",
        "+ role:app → topic.produce → b  (allow, p.yaml#r)",
    ]
    code, _, err = run(capsys, "diff", "--policy", str(folder), "HEAD~5", "HEAD")
    assert code == 2 and "git archive" in err
