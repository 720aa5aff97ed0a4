"""JWT bundles streamed from the SPIFFE Workload API: the keys that sign each trust domain's JWT-SVIDs.

`WorkloadApiJwtBundles` keeps the last good key set of every trust domain (key id -> public key, as py-spiffe
parsed it). `authorities(trust_domain)` is what the token side's key cache "fetches" for a `kind: spiffe`
issuer without a `jwks_url`; while the stream is broken it raises, so that cache keeps its last good keys
and lets them go stale exactly as for an unreachable JWKS URL.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import MappingProxyType

from meshgate.identity.bundles import BundleState
from meshgate.identity.workloadapi import Connect, StreamedSource, WorkloadApiStream, open_jwt_bundles

log = logging.getLogger(__name__)

Authorities = Mapping[str, object]  # key id -> public key (cryptography)
NOT_YET = "no JWT bundle from the SPIFFE Workload API yet"


class JwtBundlesUnavailable(Exception):
    """No current JWT bundle for a trust domain; the message says why."""


class WorkloadApiJwtBundles(StreamedSource):
    """`start()` it; `authorities(td)` never blocks."""

    def __init__(self, connect: Connect, *, backoff_seconds: tuple[float, float] = (0.2, 5.0)) -> None:
        self._state: BundleState[Authorities] = BundleState(sorted, waiting=NOT_YET)
        stream = WorkloadApiStream(
            connect,
            open_jwt_bundles,
            self.update,
            self._report,
            name="workload-api-jwt",
            backoff_seconds=backoff_seconds,
        )
        super().__init__(stream, self._state.wait_first)

    def authorities(self, trust_domain: str) -> Authorities:
        """The current keys of `trust_domain`; `JwtBundlesUnavailable` while the stream is down or when the
        agent has no JWT bundle for it."""
        error = self._state.status.last_error
        if error:
            raise JwtBundlesUnavailable(error)
        found = self._state.bundles.get(trust_domain)
        if not found:
            known = ", ".join(sorted(self._state.bundles)) or "none"
            raise JwtBundlesUnavailable(
                f"the Workload API has no JWT bundle for {trust_domain} (has: {known})"
            )
        return found

    def update(self, bundle_set: object) -> None:
        """Swap in one update (py-spiffe's `JwtBundleSet`; public for tests)."""
        bundles = {
            b.trust_domain.name: MappingProxyType(dict(b.jwt_authorities))
            for b in getattr(bundle_set, "bundles", ())
        }
        if not bundles:
            raise ValueError("the Workload API sent a JWT bundle update without any bundle")
        if self._state.update(bundles).changed:
            log.info("JWT bundles from the Workload API: %s", _kids(bundles))

    def _report(self, reason: str) -> None:
        self._state.fail(reason)
        log.warning("JWT bundles: %s; the token key cache keeps the last good keys", reason)


def _kids(bundles: Mapping[str, Authorities]) -> str:
    return ", ".join(f"{td} (kids {', '.join(sorted(keys))})" for td, keys in sorted(bundles.items()))
