"""Regression (found by tests/e2e/test_faults_broker.py): reverting a refused policy commit must clear the
refusal, or readiness reports a refused revision forever while the folder is back at the serving one."""

from __future__ import annotations

from pathlib import Path

from meshgate.policy import PolicyStore
from meshgate.policy.reloader import PolicyReloader

GOOD = """apiVersion: meshgate.dev/v1
kind: AccessPolicy
metadata: {name: p}
rules:
  - name: w
    effect: allow
    subjects: [{spiffe: 'spiffe://t.test/ns/a/sa/w'}]
    actions: [produce]
    resources: ['persistent://acme/ns/*']
"""


def test_reverting_a_refused_commit_clears_the_refusal(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(GOOD)
    store = PolicyStore()
    reloader = PolicyReloader(tmp_path, store)
    assert reloader.reload_now()
    serving = reloader.status.revision
    broken = tmp_path / "broken.yaml"
    broken.write_text("rules: [\n")
    assert not reloader.reload_now()
    assert reloader.status.last_error and reloader.status.failed_revision
    broken.unlink()
    assert not reloader.reload_now()  # nothing to swap: the serving revision is the folder's again
    assert (reloader.status.revision, reloader.status.last_error, reloader.status.failed_revision) == (
        serving,
        "",
        "",
    )
    assert store.current().revision == serving


def test_the_refused_commit_coming_back_is_reported_again(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(GOOD)
    reloader = PolicyReloader(tmp_path, PolicyStore())
    assert reloader.reload_now()
    broken = tmp_path / "broken.yaml"
    for _ in range(2):  # refuse, revert, refuse the same content again
        broken.write_text("rules: [\n")
        assert not reloader.reload_now()
        assert reloader.status.last_error
        broken.unlink()
        assert not reloader.reload_now()
        assert not reloader.status.last_error
