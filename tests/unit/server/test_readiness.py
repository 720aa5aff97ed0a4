"""Readiness: policy loaded, bundles loaded cleanly, every issuer's keys usable; the reason when not."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from meshgate.identity.filebundles import ReloadStatus as BundleStatus
from meshgate.oidc.keys import KeySnapshot, KeyState
from meshgate.policy.reloader import ReloadStatus as PolicyStatus
from meshgate.server import readiness as rd

AT = datetime(2026, 1, 1, tzinfo=UTC)
GOOD_POLICY = rd.policy_check(True, PolicyStatus(revision="abc123", last_success_at=AT))
GOOD_BUNDLES = BundleStatus(3, False, AT, None)


def test_ready_when_everything_is_in_place() -> None:
    readiness = rd.evaluate(
        GOOD_POLICY, GOOD_BUNDLES, [("https://idp", KeySnapshot(KeyState.FRESH, age_seconds=5), "")]
    )
    assert readiness.ready and readiness.reasons == []
    assert [c.name for c in readiness.checks] == ["policy", "trust_bundles", "jwks:https://idp"]


def test_no_policy_is_not_ready_and_says_why() -> None:
    check = rd.policy_check(False, PolicyStatus(last_error="payments.yaml:3: unknown action"))
    readiness = rd.evaluate(check, None, [])
    assert not readiness.ready
    assert readiness.reasons == ["policy: no valid policy loaded: payments.yaml:3: unknown action"]


def test_a_refused_new_revision_keeps_the_instance_ready() -> None:
    status = PolicyStatus(revision="good", last_error="tests failed", failed_revision="bad")
    check = rd.policy_check(True, status)
    assert check.ok
    assert check.detail == (
        "serving revision good; the newer revision bad was refused and is not in effect "
        "(fix it and commit again): tests failed"
    )


def test_the_policy_check_names_the_commit_of_each_revision() -> None:
    status = PolicyStatus(revision="sha256:a", commit="3cc4291", last_error="x", failed_revision="sha256:b")
    check = rd.policy_check(True, replace(status, failed_commit="9f0e1d2"))
    assert check.detail == (
        "serving revision sha256:a (commit 3cc4291); the newer revision sha256:b (commit 9f0e1d2) was "
        "refused and is not in effect (fix it and commit again): x"
    )


def test_bundle_load_error_is_not_ready() -> None:
    readiness = rd.evaluate(GOOD_POLICY, BundleStatus(3, False, AT, "td: cannot load ca.pem"), [])
    assert readiness.reasons == ["trust_bundles: last reload failed: td: cannot load ca.pem"]


def test_stale_keys_stay_ready_expired_or_missing_keys_do_not() -> None:
    stale = rd.jwks_check("i", KeySnapshot(KeyState.STALE, age_seconds=900), "connection refused")
    expired = rd.jwks_check("i", KeySnapshot(KeyState.EXPIRED, age_seconds=20000), "connection refused")
    never = rd.jwks_check("i", KeySnapshot(KeyState.NEVER_LOADED), "HTTP 503")
    assert (stale.ok, expired.ok, never.ok) == (True, False, False)
    assert expired.detail == "keys expired, 20000s old: connection refused"
    assert never.detail == "keys never_loaded: HTTP 503"
    assert (
        rd.evaluate(GOOD_POLICY, None, [("i", KeySnapshot(KeyState.EXPIRED), "")]).as_json()["ready"] is False
    )
