"""Part 3: credential checks in process: X.509-SVID chains and JWTs, first sight and cached.

First sight = a credential the process has not seen (distinct certificates / tokens, each verified
once: full signature and profile checks). Cached = the same credentials again through the caches the
service uses (`CachedX509Verifier`, `TokenAuthenticator`'s token cache).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import get_default_algorithms
from meshgate.clock import SystemClock
from meshgate.identity import CachedX509Verifier, StaticTrustBundles, X509SvidVerifier
from meshgate.oidc import (
    OidcSettings,
    StaticKeySource,
    TokenAuthenticator,
    TokenValidator,
    parse_issuers,
    parse_jwks,
)

from bench.engine import timed_calls
from bench.stats import summary
from devtools.devca import DevCA

TD = "cluster.local"
ISS = "https://sso.bench.test"


def _rate(calls: int, seconds: float) -> float:
    return calls / seconds if seconds > 0 else float("nan")


def _measure(fn: Callable[[Any], object], items: Sequence[Any], *, once: bool = False) -> dict[str, float]:
    """Rate from an untimed pass, then per-call latency from a second pass. `once`: one timed pass only
    (for calls whose first pass changes state, e.g. fills a cache); the rate then includes the clock."""
    if once:
        start = time.perf_counter()
        lat = timed_calls(fn, items)
        return summary(lat) | {"rate": _rate(len(items), time.perf_counter() - start)}
    start = time.perf_counter()
    for item in items:
        fn(item)
    rate = _rate(len(items), time.perf_counter() - start)
    return summary(timed_calls(fn, items)) | {"rate": rate}


def x509_chains(count: int) -> tuple[StaticTrustBundles, list[list[bytes]]]:
    """Root → intermediate → P-256 leaves (the Linkerd/SPIRE shape), leaf-first DER chains."""
    root = DevCA("bench root", uri_sans=[f"spiffe://{TD}"])
    issuer = root.intermediate("bench issuer")
    inter_der = issuer.cert.public_bytes(serialization.Encoding.DER)
    chains = []
    for i in range(count):
        leaf = issuer.issue_svid(f"spiffe://{TD}/ns/bench-{i % 50}/sa/workload-{i}")
        chains.append([leaf.cert.public_bytes(serialization.Encoding.DER), inter_der])
    return StaticTrustBundles({TD: [root.cert]}), chains


def run_x509(first_n: int, cached_n: int) -> dict[str, Any]:
    bundles, chains = x509_chains(first_n)
    clock = SystemClock()
    verifier = X509SvidVerifier(bundles, clock)
    cached = CachedX509Verifier(verifier, clock, max_entries=max(10_000, first_n))
    first = _measure(verifier.verify, chains)
    miss = _measure(cached.verify, chains, once=True)  # first sight through the cache: verify + store
    hot = chains[: min(1000, first_n)]
    hits = _measure(cached.verify, (hot * (cached_n // len(hot) + 1))[:cached_n])
    return {
        "first_sight": first,
        "first_sight_via_cache": miss,
        "cached": hits,
        "chain": "leaf+intermediate, P-256",
    }


_KEYS: dict[str, Callable[[], Any]] = {
    "RS256": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "ES256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "EdDSA": ed25519.Ed25519PrivateKey.generate,
}


def _jwks(private: dict[str, Any]) -> dict[str, Any]:
    keys = []
    for alg, key in private.items():
        jwk = json.loads(get_default_algorithms()[alg].to_jwk(key.public_key()))
        keys.append({**jwk, "kid": alg.lower(), "use": "sig", "alg": alg})
    return {"keys": keys}


def mint_tokens(private: dict[str, Any], alg: str, count: int) -> list[str]:
    now = int(time.time())
    return [
        jwt.encode(
            {
                "iss": ISS,
                "sub": f"user-{i}",
                "aud": "pulsar",
                "iat": now,
                "exp": now + 3600,
                "groups": ["staff", f"team-{i % 40}"],
            },
            private[alg],
            algorithm=alg,
            headers={"kid": alg.lower()},
        )
        for i in range(count)
    ]


def run_tokens(first_n: int, cached_n: int) -> dict[str, Any]:
    private = {alg: make() for alg, make in _KEYS.items()}
    raw = {
        "issuer": ISS,
        "jwks_url": f"{ISS}/jwks",
        "audiences": ["pulsar"],
        "algorithms": list(_KEYS),
        "expose_claims": ["groups"],
    }
    issuers = parse_issuers([raw])
    keys = StaticKeySource({ISS: parse_jwks(json.dumps(_jwks(private)).encode())})
    clock = SystemClock()
    validator = TokenValidator(issuers, keys, clock)
    out: dict[str, Any] = {}
    for alg in _KEYS:
        out[f"first_sight_{alg}"] = _measure(validator.validate, mint_tokens(private, alg, first_n))
    settings = OidcSettings(token_cache_size=max(10_000, first_n))
    # The authenticator trusts a cached verification only while the issuer's key set is the one it was
    # verified with; it reads that from its key cache, here the same fixed keys the validator uses.
    authenticator = TokenAuthenticator(validator, keys, clock, settings)  # type: ignore[arg-type]
    tokens = mint_tokens(private, "RS256", min(first_n, 1000))
    out["authenticator_first_sight_RS256"] = _measure(authenticator.authenticate, tokens, once=True)
    repeated = (tokens * (cached_n // len(tokens) + 1))[:cached_n]
    out["authenticator_cached"] = _measure(authenticator.authenticate, repeated)
    return out


def run(quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    first_n, cached_n = (500, 100_000) if quick else (3000, 300_000)
    log(f"credentials: X.509 ({first_n} distinct chains)")
    x509 = run_x509(first_n, cached_n)
    log(f"  first sight {x509['first_sight']['rate']:,.0f}/s, cached {x509['cached']['rate']:,.0f}/s")
    log(f"credentials: JWT ({first_n} distinct tokens per algorithm)")
    tokens = run_tokens(first_n, cached_n)
    log(
        f"  RS256 first sight {tokens['first_sight_RS256']['rate']:,.0f}/s, "
        f"cached {tokens['authenticator_cached']['rate']:,.0f}/s"
    )
    return {"x509": x509, "tokens": tokens, "first_n": first_n, "cached_n": cached_n}
