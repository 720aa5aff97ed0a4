"""Section 3: credentials in process (`bench/credentials.py`)."""

from __future__ import annotations

from typing import Any

from bench import plots
from bench.report.common import Goals, provenance, rate, table, us, verdict

PART, TITLE = "credentials", "3. Credentials in process"

_CRED_ROWS = [
    ("x509", "first_sight", "X.509 chain, first sight (verifier)"),
    ("x509", "first_sight_via_cache", "X.509 chain, first sight through the cache"),
    ("x509", "cached", "X.509 chain, cached"),
    ("tokens", "first_sight_RS256", "JWT RS256, first sight"),
    ("tokens", "first_sight_ES256", "JWT ES256, first sight"),
    ("tokens", "first_sight_EdDSA", "JWT EdDSA, first sight"),
    ("tokens", "authenticator_first_sight_RS256", "JWT RS256, first sight through TokenAuthenticator"),
    ("tokens", "authenticator_cached", "JWT, cached (TokenAuthenticator)"),
]


def section(data: dict[str, Any], goals: Goals) -> str:
    r = data["result"]
    rows, bars = [], []
    for group, key, label in _CRED_ROWS:
        m = r[group][key]
        rows.append([label, rate(m["rate"]), us(m["p50"]), us(m["p99"]), f"{int(m['n']):,}"])
        bars.append((label, m["rate"]))
    cached = min(r["x509"]["cached"]["rate"], r["tokens"]["authenticator_cached"]["rate"])
    goals += [
        [
            "cached credential checks ≥ 200k/s in process",
            f"{rate(cached)}/s (slower of X.509, JWT)",
            verdict(cached >= 200_000),
        ],
        [
            "first-sight RS256 ≥ 5k/s",
            f"{rate(r['tokens']['first_sight_RS256']['rate'])}/s",
            verdict(r["tokens"]["first_sight_RS256"]["rate"] >= 5000),
        ],
    ]
    plot = plots.credentials(bars)
    return (
        f"## {TITLE}\n\n"
        + provenance(data)
        + "\n"
        + "X.509: root → intermediate → P-256 leaf SVIDs (`DevCA`), leaf-first DER chains, "
        "`X509SvidVerifier` (path building, signatures, SVID profile, SPIFFE ID) and `CachedX509Verifier` "
        "(sha256 of the chain → identity). JWT: RSA-2048, P-256 and Ed25519 keys from a `StaticKeySource`; "
        "`TokenValidator.validate` (PyJWT signature, claim checks, principal mapping) and "
        "`TokenAuthenticator.authenticate` (token cache in front). Each first-sight credential is distinct "
        "and verified once; one thread.\n\n"
        + table(["check", "per second", "p50 µs", "p99 µs", "calls"], rows)
        + f"\n![credentials]({plot})\n"
    )
