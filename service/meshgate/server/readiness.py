"""Readiness: may this instance answer? Pure functions over the components' status; `/readyz` and gRPC
health both report it.

Ready means: a policy revision is loaded; the trust bundles' last reload had no error; every OIDC issuer
has keys that are still usable. Keys past their refresh interval (`stale`, e.g. during an IdP outage)
keep the instance ready: they are still used, and taking every replica out of rotation would deny the
mTLS callers too. Keys past `oidc.max_stale_seconds` (`expired`) or never loaded make it not ready.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from meshgate.identity.bundles import ReloadStatus as BundleStatus
from meshgate.oidc.keys import KeySnapshot
from meshgate.policy.reloader import ReloadStatus as PolicyStatus
from meshgate.policy.revision import describe


@dataclass(frozen=True, slots=True)
class Check:
    name: str  # policy, trust_bundles, jwks:<issuer>
    ok: bool
    detail: str  # why not, or what is current


@dataclass(frozen=True, slots=True)
class Readiness:
    checks: tuple[Check, ...]

    @property
    def ready(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def reasons(self) -> list[str]:
        return [f"{c.name}: {c.detail}" for c in self.checks if not c.ok]

    def as_json(self) -> dict[str, object]:
        return {
            "ready": self.ready,
            "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in self.checks],
        }


def policy_check(loaded: bool, status: PolicyStatus) -> Check:
    if not loaded:
        return Check("policy", False, f"no valid policy loaded: {status.last_error or 'not loaded yet'}")
    if status.last_error:
        # Still serving the last good revision: ready, but say why the new one was refused.
        serving = describe(status.revision, status.commit)
        refused = describe(status.failed_revision, status.failed_commit)
        return Check(
            "policy",
            True,
            f"serving revision {serving}; the newer revision {refused} was refused "
            f"and is not in effect (fix it and commit again): {status.last_error}",
        )
    return Check("policy", True, f"serving revision {describe(status.revision, status.commit)}")


def bundles_check(status: BundleStatus) -> Check:
    if status.last_error:
        return Check("trust_bundles", False, f"last reload failed: {status.last_error}")
    return Check("trust_bundles", True, f"generation {status.generation}")


def jwks_check(issuer: str, snapshot: KeySnapshot, last_error: str) -> Check:
    name = f"jwks:{issuer}"
    age = "" if snapshot.age_seconds is None else f", {snapshot.age_seconds:.0f}s old"
    because = f": {last_error}" if last_error else ""
    detail = f"keys {snapshot.state.value}{age}{because}"
    return Check(name, snapshot.usable, detail)


def evaluate(
    policy: Check, bundles: BundleStatus | None, issuers: Iterable[tuple[str, KeySnapshot, str]]
) -> Readiness:
    checks = [policy]
    if bundles is not None:
        checks.append(bundles_check(bundles))
    checks.extend(jwks_check(issuer, snapshot, error) for issuer, snapshot, error in issuers)
    return Readiness(tuple(checks))
