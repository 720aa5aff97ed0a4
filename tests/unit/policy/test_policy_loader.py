"""Loading a folder: every error of a revision at once, each naming file:line; revisions; layouts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import HEADER, WritePolicy
from jsonschema import Draft202012Validator
from meshgate.errors import PolicyError
from meshgate.policy import load_policy
from meshgate.policy.loader import read_source
from meshgate.principal import LinkerdNaming

RULE = (
    HEADER
    + """\
metadata: {name: p}
rules:
  - name: r
    effect: allow
    subjects: [{role: app}]
    actions: [produce]
    resources: ["persistent://a/b/*"]
"""
)


def errors_of(folder: Path) -> list[str]:
    with pytest.raises(PolicyError) as info:
        load_policy(folder)
    header, *lines = info.value.message.splitlines()
    assert header.startswith(f"{len(lines)} error(s) in policy revision ")
    return lines


def test_schema_file_is_a_valid_schema() -> None:
    schema_path = Path(__file__).resolve().parents[3] / "service/meshgate/policy/schema.json"
    Draft202012Validator.check_schema(json.loads(schema_path.read_text()))


def test_examples_load(examples: Path) -> None:
    snapshot = load_policy(examples, superusers=["broker"])
    assert len(snapshot.rules) >= 8
    assert snapshot.superusers == {"broker"}


def test_unknown_key_names_file_line_and_allowed_keys(write_policy: WritePolicy) -> None:
    folder = write_policy(
        {"p.yaml": RULE.replace("    effect: allow\n", "    effect: allow\n    efect: deny\n")}
    )
    assert errors_of(folder) == [
        "p.yaml:7: unknown key 'efect' in rules.0 (allowed: actions, description, effect, except, mode, "
        "name, resources, subjects, subscriptions)"
    ]


def test_every_error_of_every_file_is_reported(write_policy: WritePolicy) -> None:
    bad = RULE.replace("[produce]", "[produce, topic.teleport]").replace('"persistent://a/b/*"', '"a/b/c"')
    folder = write_policy({"a.yaml": bad, "b.yaml": RULE.replace("effect: allow", "effect: permit")})
    assert errors_of(folder) == [
        "a.yaml:8: unknown action 'topic.teleport' (see the action table in docs/policy.md)",
        "a.yaml:9: 'a/b/c': a topic needs persistent:// or non-persistent:// in front",
        "b.yaml:6: rules.0.effect: 'permit' is not one of ['allow', 'deny']",
    ]


def test_topic_pattern_with_a_slash_in_its_own_name_names_file_and_line(write_policy: WritePolicy) -> None:
    """It loaded before and never matched (a silently dead rule); now the revision is refused."""
    folder = write_policy({"p.yaml": RULE.replace("persistent://a/b/*", "persistent://a/b/x/*")})
    assert errors_of(folder) == [
        "p.yaml:9: 'persistent://a/b/x/*' can never match: a topic's own name holds no '/' (Pulsar reads "
        "such a name as a v1 name whose cluster is 'b'; meshgate decides v2 names only); write the topic "
        "without '/', like 'persistent://a/b/x-*', or 'a/b' for every topic of the namespace"
    ]


def test_rules_with_the_same_action_list_share_one_action_set(write_policy: WritePolicy) -> None:
    other = RULE.replace("[produce]", "[topic.produce, topic.lookup]")
    snapshot = load_policy(write_policy({"a.yaml": RULE, "b.yaml": RULE, "c.yaml": other}))
    a, b, c = snapshot.rules
    assert a.actions is b.actions
    assert a.actions == c.actions == {"topic.produce", "topic.lookup"}
    assert a.action_patterns == ("produce",) and c.action_patterns == ("topic.produce", "topic.lookup")


def test_missing_required_and_wrong_api_version(write_policy: WritePolicy) -> None:
    text = "apiVersion: meshgate.dev/v2\nkind: AccessPolicy\nmetadata: {name: p}\n"
    assert set(errors_of(write_policy({"p.yaml": text}))) == {
        "p.yaml:1: document: 'rules' is required",
        "p.yaml:1: apiVersion: 'meshgate.dev/v1' was expected",
    }


def test_duplicate_rule_names_in_a_file(write_policy: WritePolicy) -> None:
    text = RULE + RULE.split("rules:\n")[1]
    assert errors_of(write_policy({"p.yaml": text})) == [
        "p.yaml:10: duplicate rule id 'p.yaml#r' (first defined at p.yaml:5)"
    ]


def test_same_rule_name_in_two_files_is_fine(write_policy: WritePolicy) -> None:
    snapshot = load_policy(write_policy({"a.yaml": RULE, "b.yaml": RULE}))
    assert [r.id for r in snapshot.rules] == ["a.yaml#r", "b.yaml#r"]


def test_duplicate_yaml_key_and_syntax_error(write_policy: WritePolicy) -> None:
    dup = RULE.replace("    effect: allow\n", "    effect: allow\n    effect: deny\n")
    folder = write_policy({"a.yaml": dup, "b.yaml": "apiVersion: [unclosed\n"})
    lines = errors_of(folder)
    assert lines[0] == "a.yaml:7: duplicate key 'effect'"
    assert lines[1].startswith("b.yaml:2: YAML syntax error: ")


def test_subject_with_two_kinds(write_policy: WritePolicy) -> None:
    text = RULE.replace("[{role: app}]", "[{role: app, spiffe: 'spiffe://td/x'}]")
    assert errors_of(write_policy({"p.yaml": text})) == [
        "p.yaml:7: rules.0.subjects.0: a subject has exactly one of spiffe, linkerd, role, oidc, everyone"
    ]


def test_capture_used_but_not_captured(write_policy: WritePolicy) -> None:
    text = RULE.replace("[{role: app}]", "[{spiffe: 'spiffe://td/ns/{ns}/sa/*'}, {role: app}]").replace(
        "persistent://a/b/*", "persistent://{ns}/b/*"
    )
    assert errors_of(write_policy({"p.yaml": text})) == [
        "p.yaml:5: rule 'p.yaml#r' uses {ns} but subject 'role:app' does not capture it"
    ]


def test_deny_narrowed_to_subscriptions_must_list_only_subscription_actions(
    write_policy: WritePolicy,
) -> None:
    text = RULE.replace("effect: allow", "effect: deny").replace("[produce]", "[consume]")
    text += '    subscriptions: ["audit-*"]\n'
    assert errors_of(write_policy({"p.yaml": text})) == [
        "p.yaml:10: deny rule 'p.yaml#r' is limited to subscriptions but also denies topic.lookup, "
        "which names no subscription; list only subscription actions (e.g. topic.consume) in it"
    ]


def test_rule_without_subjects(write_policy: WritePolicy) -> None:
    text = RULE.replace("    subjects: [{role: app}]\n", "")
    assert errors_of(write_policy({"p.yaml": text})) == [
        "p.yaml:5: rule 'r' has no subjects (none on the policy)"
    ]


def test_test_suite_kind_in_rule_file_and_reverse(write_policy: WritePolicy) -> None:
    suite = "apiVersion: meshgate.dev/v1\nkind: PolicyTestSuite\nmetadata: {name: s}\ntests:\n"
    suite += "  - {name: t, principal: app, action: topic.produce, expect: allow}\n"
    folder = write_policy({"a.yaml": suite, "b.yaml": RULE, "b_test.yaml": RULE})
    assert errors_of(folder) == ["a.yaml:2: expected kind AccessPolicy in this file"]


def test_empty_folder_and_missing_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert errors_of(tmp_path / "empty") == [
        f"{tmp_path / 'empty'}: no policy documents (*.yaml other than *_test.yaml) found"
    ]
    with pytest.raises(PolicyError, match="does not exist"):
        load_policy(tmp_path / "missing")


def test_multiple_documents_and_empty_documents(write_policy: WritePolicy) -> None:
    text = "---\n" + RULE + "---\n" + RULE.replace("name: r", "name: s") + "---\n"
    snapshot = load_policy(write_policy({"p.yml": text}))
    assert [r.id for r in snapshot.rules] == ["p.yml#r", "p.yml#s"]


def test_hidden_folders_and_test_files_are_not_rules(write_policy: WritePolicy) -> None:
    folder = write_policy(
        {"p.yaml": RULE, ".git/x.yaml": "nonsense: [", "sub/q.yaml": RULE, "notes.txt": "x"}
    )
    snapshot = load_policy(folder)
    assert [r.id for r in snapshot.rules] == ["p.yaml#r", "sub/q.yaml#r"]


def test_content_hash_revision_without_git(write_policy: WritePolicy) -> None:
    folder = write_policy({"p.yaml": RULE})
    first = load_policy(folder)
    assert first.revision.startswith("sha256:") and len(first.revision) == len("sha256:") + 32
    assert first.commit == ""
    (folder / "p.yaml").write_text(RULE.replace("name: r", "name: r2"))
    assert load_policy(folder).revision != first.revision


def test_the_revision_covers_superusers_and_linkerd_naming(write_policy: WritePolicy) -> None:
    """Both change what the compiled policy decides, so both change the revision (order does not)."""
    folder = write_policy({"p.yaml": RULE})
    plain = load_policy(folder).revision
    supers = load_policy(folder, superusers=["a", "b"]).revision
    assert supers != plain and load_policy(folder, superusers=["b", "a", "b"]).revision == supers
    assert load_policy(folder, naming=LinkerdNaming(trust_domain="other.test")).revision != plain
    assert load_policy(folder).revision == plain


def test_configmap_layout_reads_each_file_once(tmp_path: Path) -> None:
    mount = tmp_path / "mount"
    data = mount / "..2026_01_01_00_00_00.000000001"
    data.mkdir(parents=True)
    (data / "p.yaml").write_text(RULE)
    os.symlink(data.name, mount / "..data")
    os.symlink("..data/p.yaml", mount / "p.yaml")
    assert [r.id for r in load_policy(mount).rules] == ["p.yaml#r"]


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t", "GIT_CONFIG_GLOBAL": "/dev/null"}  # fmt: skip
    done = subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True)
    return done.stdout.strip()


needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")


@needs_git
def test_git_revision_of_a_subfolder_branch_and_packed_refs(write_policy: WritePolicy) -> None:
    folder = write_policy({"p.yaml": RULE}, folder="repo/policies")
    repo = folder.parent
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "one")
    sha = git(repo, "rev-parse", "HEAD")
    assert load_policy(folder).commit == sha
    git(repo, "pack-refs", "--all")
    assert not (repo / ".git/refs/heads/main").exists()
    assert load_policy(folder).commit == sha


@needs_git
def test_a_content_change_without_a_commit_is_a_new_revision(write_policy: WritePolicy) -> None:
    """A hot fix in a checkout (or a ConfigMap under a folder with .git above it) keeps HEAD: the revision
    must change anyway, or the broker plugin keeps answers the policy no longer gives (#16)."""
    folder = write_policy({"p.yaml": RULE}, folder="repo/policies")
    git(folder.parent, "init", "-q", "-b", "main")
    git(folder.parent, "add", ".")
    git(folder.parent, "commit", "-q", "-m", "one")
    sha = git(folder.parent, "rev-parse", "HEAD")
    before = load_policy(folder)
    (folder / "p.yaml").write_text(RULE.replace("[produce]", "[consume]"))
    after = load_policy(folder)
    assert after.revision != before.revision
    assert (before.commit, after.commit) == (sha, sha)


@needs_git
def test_a_commit_that_leaves_the_policy_alone_keeps_the_revision(write_policy: WritePolicy) -> None:
    """Same content, same revision: no needless cache flush in the broker plugin; the commit label moves."""
    folder = write_policy({"p.yaml": RULE}, folder="repo/policies")
    repo = folder.parent
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "one")
    before = load_policy(folder)
    (repo / "README.md").write_text("not policy\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "docs")
    after = load_policy(folder)
    assert after.revision == before.revision
    assert after.commit != before.commit


@needs_git
def test_git_sync_worktree_behind_a_symlink(write_policy: WritePolicy, tmp_path: Path) -> None:
    repo = write_policy({"p.yaml": RULE}, folder="origin").parent / "origin"
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "one")
    sha = git(repo, "rev-parse", "HEAD")
    worktree = tmp_path / "root" / ".worktrees" / sha
    worktree.parent.mkdir(parents=True)
    git(repo, "worktree", "add", "-q", "--detach", str(worktree), sha)
    link = tmp_path / "root" / "policies"
    os.symlink(worktree, link)
    snapshot = load_policy(link)
    assert snapshot.commit == sha
    assert snapshot.source == str(worktree)


def test_source_files_are_sorted_and_hashed(write_policy: WritePolicy) -> None:
    folder = write_policy({"b.yaml": RULE, "a.yaml": RULE, "a_test.yaml": "x: 1\n"})
    source = read_source(folder)
    assert [name for name, _ in source.files] == ["a.yaml", "a_test.yaml", "b.yaml"]
    assert source.commit == "" and source.content_hash.startswith("sha256:")
    assert source.revision() == load_policy(folder).revision
