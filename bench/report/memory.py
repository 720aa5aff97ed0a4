"""Section 6: memory, of the service and of the shim's decision cache (`bench/memory.py`)."""

from __future__ import annotations

from typing import Any

from bench.report.common import Goals, load, provenance, table

PART, TITLE = "memory", "6. Memory"


MIB = 1 << 20


def _rows(py: dict[str, Any], served: dict[str, Any]) -> list[list[str]]:
    tok = py["tokens_only"] - py["imported"]
    pol = py["policy_loaded"] - py["tokens_dropped"]
    rows = [
        ["interpreter + meshgate imported", f"{py['imported'] / MIB:,.0f}", ""],
        [
            f"+ {py['tokens']:,} cached tokens (alone)",
            f"{py['tokens_only'] / MIB:,.0f}",
            f"+{tok / MIB:,.0f} MiB ({tok / py['tokens']:,.0f} B/token)",
        ],
        [
            f"tokens dropped, then the {py['rules']:,}-rule policy loaded",
            f"{py['policy_loaded'] / MIB:,.0f}",
            f"+{pol / MIB:,.0f} MiB ({pol / py['rules']:,.0f} B/rule)",
        ],
        [
            f"+ {py['tokens']:,} cached tokens: **100k rules and 100k tokens**",
            f"{py['tokens_cached'] / MIB:,.0f}",
            f"+{(py['tokens_cached'] - py['policy_loaded']) / MIB:,.0f} MiB",
        ],
    ]
    if "rss" in served:
        rows.append(
            [
                f"`meshgate serve` with the {py['rules']:,}-rule policy, after the gRPC load (part 2)",
                f"{served['rss'] / MIB:,.0f}",
                "",
            ]
        )
    return rows


def _real_rows(real: dict[str, Any]) -> list[list[str]]:
    """The real `meshgate serve`, before and after its token cache is filled through Authenticate."""
    if "rss" not in real:
        return []
    added = real["rss"] - real["rss_ready"]
    return [
        [
            f"`meshgate serve`, {real['rules']:,}-rule policy, ready (/readyz 200)",
            f"{real['rss_ready'] / MIB:,.0f}",
            "",
        ],
        [
            f"+ {real['tokens']:,} tokens through Authenticate (each verified once)",
            f"{real['rss'] / MIB:,.0f}",
            f"+{added / MIB:,.0f} MiB ({added / real['tokens']:,.0f} B/token)",
        ],
        *_hits_rows(real),
    ]


def _hits_rows(real: dict[str, Any]) -> list[list[str]]:
    """The same tokens asked for again (every one a hit), and every run (the row above is the median)."""
    if "rss_hits" not in real:
        return []
    runs = ", ".join(
        f"{run['rss_ready'] / MIB:,.1f} → {run['rss'] / MIB:,.1f} → {run['rss_hits'] / MIB:,.1f}"
        for run in real["runs"]
    )
    return [
        [
            f"+ the same tokens again, each a cache hit: **the real service, {real['rules']:,} rules and "
            f"{real['tokens']:,} tokens** "
            f"({real['rss_hits'] / 1e6:,.0f} MB)",
            f"{real['rss_hits'] / MIB:,.0f}",
            f"+{(real['rss_hits'] - real['rss']) / MIB:,.0f} MiB; peak (VmHWM) {real['hwm'] / MIB:,.0f} MiB, "
            f"{real['threads']} threads; the median of {len(real['runs'])} runs (ready → filled → after hits, "
            f"MiB: {runs})",
        ],
    ]


def served_rss(data: dict[str, Any] | None) -> dict[str, Any] | None:
    """Part 6's measure of the real service with 100k rules and 100k cached tokens, if it ran."""
    real = (data or {}).get("result", {}).get("served", {})
    return real if "rss" in real else None


def _shim(shim: dict[str, Any]) -> str:
    """The shim's own decision cache, measured on the JVM heap."""
    if "heap_after" not in shim:
        return f"\nShim heap: not measured ({shim.get('error', 'shim cache not available')}).\n"
    per = (shim["heap_after"] - shim["heap_before"]) / shim["entries"]
    return (
        f"\nShim: `bench/java/.../CacheHeapProbe.java` fills the shim's own `DecisionCache` (Caffeine, keyed on "
        f"the full request + revision) with {shim['entries']:,} distinct produce decisions: heap "
        f"{shim['heap_before'] / MIB:,.1f} → {shim['heap_after'] / MIB:,.1f} MiB after full GCs, i.e. "
        f"**{per * 100_000 / MIB:,.1f} MiB per 100k cached decisions** ({per:,.0f} B each).\n"
    )


def _real_text(real: dict[str, Any]) -> str:
    if "rss" not in real:
        return ""
    return (
        f"The real service: `meshgate serve` with the generated {real['rules']:,}-rule policy (watched) and a "
        "Kubernetes OIDC issuer (its JWKS served on 127.0.0.1), then "
        f"{real['tokens']:,} distinct EdDSA tokens, each once through the Authenticate RPC (4 channels, 12 calls "
        f"in flight on each; {real['fill_s']:.0f} s), then each once more, a cache hit "
        f"({real.get('hits_s', 0):.0f} s), every answer the token's identity and "
        f"`meshgate_token_cache_entries` at {real['tokens']:,}; for that the bench raises "
        f"`oidc.token_cache_size` to {real['token_cache_size']:,} (default 10,000) and "
        f"`token_cache_ttl_seconds` to {real['token_cache_ttl_seconds']:,} (default 60). RSS as the kernel counts "
        "it, nothing trimmed from outside. Then the breakdown, in a fresh interpreter (RSS after `gc.collect()` "
        "and `malloc_trim(0)`): 100k distinct verified identities in `TokenCache`, then without them, then "
        "the policy, then the tokens again (filled with `put`, as `TokenAuthenticator` does after a "
        "verification).\n\n"
    )


def section(data: dict[str, Any], goals: Goals) -> str:
    r = data["result"]
    served = (load("grpc") or {}).get("result", {}).get("large_policy", {})
    real = r.get("served", {})
    intro = _real_text(real) or (
        "Service (RSS, `/proc/<pid>/status`, after `gc.collect()` and `malloc_trim(0)`): a fresh interpreter "
        "with 100k distinct verified identities in `TokenCache`, then without them, then the generated "
        "100k-rule policy, then the tokens again (filled with `put`, as `TokenAuthenticator` does "
        "after a verification); and the real `meshgate serve` process with that policy.\n\n"
    )
    return (
        f"## {TITLE}\n\n"
        + provenance(data)
        + "\n"
        + intro
        + table(["state", "RSS MiB", "delta"], _real_rows(real) + _rows(r["python"], served))
        + _shim(r.get("shim", {}))
    )
