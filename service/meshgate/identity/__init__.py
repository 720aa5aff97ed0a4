"""Mesh identity: who a caller is, whichever credential proved it.

A workload's canonical principal is `spiffe://<trust-domain>/ns/<ns>/sa/<sa>`. It comes from an X.509-SVID
(SPIFFE URI SAN), a Linkerd client certificate (DNS-form identity) or, for HTTP from the local proxy only,
the `l5d-client-id` header. Verification is pure; bundles arrive through `TrustBundleSource`. The names
themselves (SPIFFE IDs, Linkerd names, trust domains) are `meshgate.principal`'s.
"""

from meshgate.identity.bundles import ReloadStatus, StaticTrustBundles, TrustBundleSource, WatchedTrustBundles
from meshgate.identity.cache import CachedX509Verifier
from meshgate.identity.codes import IdentityCode
from meshgate.identity.filebundles import FileTrustBundles, parse_specs
from meshgate.identity.l5d import L5dClientIdAuthenticator
from meshgate.identity.x509svid import X509SvidVerifier

__all__ = [
    "CachedX509Verifier",
    "FileTrustBundles",
    "IdentityCode",
    "L5dClientIdAuthenticator",
    "ReloadStatus",
    "StaticTrustBundles",
    "TrustBundleSource",
    "WatchedTrustBundles",
    "X509SvidVerifier",
    "parse_specs",
]
