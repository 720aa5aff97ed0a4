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


def section(data: dict[str, Any], goals: Goals) -> str:
    r = data["result"]
    served = (load("grpc") or {}).get("result", {}).get("large_policy", {})
    return (
        f"## {TITLE}\n\n"
        + provenance(data)
        + "\n"
        + "Service (RSS, `/proc/<pid>/status`, after `gc.collect()` and `malloc_trim(0)`): a fresh interpreter "
        "with 100k distinct verified identities in `TokenCache`, then without them, then the generated "
        "100k-rule policy, then the tokens again (filled with `put`, as `TokenAuthenticator` does "
        "after a verification; minting and verifying 100k RS256 tokens would take minutes and store the same "
        "thing); and the real `meshgate serve` process with that policy.\n\n"
        + table(["state", "RSS MiB", "delta"], _rows(r["python"], served))
        + _shim(r.get("shim", {}))
    )
