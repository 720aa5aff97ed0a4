"""Section 4: through the real broker, against Pulsar's built-in authorization (`bench/broker.py`)."""

from __future__ import annotations

from typing import Any

from bench import plots
from bench.report.common import Goals, ms, provenance, table, verdict

PART, TITLE = "broker", "4. Through the real broker, against Pulsar's built-in authorization"
ROUNDS = (
    ("producers_cold", "1,000 producers, cold"),
    ("producers_warm", "1,000 producers, warm"),
    ("consumers_cold", "1,000 consumers, cold"),
    ("consumers_warm", "1,000 consumers, warm"),
)
HEAD = [
    "operation",
    "meshgate s",
    "built-in s",
    "ratio",
    "p50 ms m",
    "p50 ms b",
    "p99 ms m",
    "p99 ms b",
    "errors",
]


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}×" if b else "-"


def _row(
    label: str, m_s: float, b_s: float, mm: dict[str, Any], bb: dict[str, Any], errors: str
) -> list[str]:
    """One operation: seconds, their ratio, and the latency of meshgate (m) and built-in (b)."""
    return [
        label,
        f"{m_s:.2f}",
        f"{b_s:.2f}",
        _ratio(m_s, b_s),
        ms(mm["latency"]["p50"]),
        ms(bb["latency"]["p50"]),
        ms(mm["latency"]["p99"]),
        ms(bb["latency"]["p99"]),
        errors,
    ]


def _rows(r: dict[str, Any], m: dict[str, Any], b: dict[str, Any]) -> list[list[str]]:
    rows = []
    for key, label in ROUNDS:
        mm, bb = m["rounds"][key], b["rounds"][key]
        label = label.replace("1,000", f"{r['topics']:,}")
        rows.append(_row(label, mm["wall"], bb["wall"], mm, bb, f"{mm['errors']}/{bb['errors']}"))
    ms_, bs = m["storm"], b["storm"]
    storm = f"storm: {r['storm_clients']:,} new clients after restart, until the last produced"
    failed = f"{ms_['refused'] + ms_['gave_up']}/{bs['refused'] + bs['gave_up']}"
    rows.append(_row(storm, ms_["last_produced"], bs["last_produced"], ms_, bs, failed))
    return rows


def _goals(r: dict[str, Any], m: dict[str, Any], b: dict[str, Any], goals: Goals) -> None:
    ms_, bs = m["storm"], b["storm"]
    warm = max(m["rounds"][k]["wall"] / b["rounds"][k]["wall"] for k in ("producers_warm", "consumers_warm"))
    cold = max(m["rounds"][k]["wall"] / b["rounds"][k]["wall"] for k in ("producers_cold", "consumers_cold"))
    storm_ratio = ms_["last_produced"] / bs["last_produced"]
    scaled = (
        "" if r["storm_clients"] >= 5000 else f" (scaled down to {r['storm_clients']:,} clients: --quick)"
    )
    goals += [
        [
            "broker: create producers/consumers ≤ 1.1× built-in, warm",
            f"{warm:.2f}× (worse of the two)",
            verdict(warm <= 1.1),
        ],
        [
            "broker: create producers/consumers ≤ 1.5× built-in, cold",
            f"{cold:.2f}× (worse of the two)",
            verdict(cold <= 1.5),
        ],
        [
            f"broker: reconnect storm total ≤ 1.2× built-in{scaled}",
            f"{storm_ratio:.2f}×",
            verdict(storm_ratio <= 1.2),
        ],
        [
            f"broker: 0 clients refused for good after a restart, shim at its defaults{scaled}",
            f"{ms_['refused']} refused, {ms_['gave_up']} gave up, {ms_['produced']:,} produced "
            f"({ms_['produced_after_retrying']:,} after retrying)",
            verdict(ms_["refused"] == 0 and ms_["gave_up"] == 0),
        ],
    ]


def _plot(m: dict[str, Any], b: dict[str, Any]) -> str:
    groups = {
        label: {"meshgate": m["rounds"][k]["wall"], "built-in": b["rounds"][k]["wall"]}
        for k, label in (
            ("producers_cold", "producers cold"),
            ("producers_warm", "producers warm"),
            ("consumers_cold", "consumers cold"),
            ("consumers_warm", "consumers warm"),
        )
    }
    groups["storm"] = {"meshgate": m["storm"]["last_produced"], "built-in": b["storm"]["last_produced"]}
    return plots.bars(groups, "broker.png", "Through a real Pulsar 4.0.7 broker (lower is better)", "seconds")


def _setup(r: dict[str, Any]) -> str:
    return (
        "Pulsar **4.0.7** standalone (`devtools/broker.py`, subclassed in `bench/brokerenv.py` only to restart "
        "on its data and to bootstrap over token auth), same JVM flags, same client (Python `pulsar-client`, "
        "`pulsar://`, RS256 tokens for the same principals). **meshgate**: the shim's token provider (service "
        "`Authenticate`, Kubernetes issuer with a loopback JWKS), `MeshgateAuthorizationProvider` with its "
        "decision cache (with the produce prefetch on lookup) and the session revoker, `meshgate serve` over a "
        "Unix domain socket as deployed, with a one-rule policy (a SPIFFE pattern "
        "granting produce/consume on the namespace). **built-in**: `AuthenticationProviderToken` (public key) "
        "+ `PulsarAuthorizationProvider` with one namespace grant to the wildcard role "
        "(`authorizationAllowWildcardsMatching=true`). The shim runs at its shipped defaults (no "
        f"`meshgate*` key but the target). Creation: one client, {r['concurrency']} creations in flight, distinct topics, after a "
        "discarded round of producers and consumers on other topics (the JIT warm-up); cold = new "
        "topics, each decision asked for the first time (topic creation included for both), warm = the same topics again after closing (five warm "
        "rounds, the median shown). Storm: the "
        f"broker restarted on its data, then {r['storm_clients']:,} new clients (distinct principals and tokens; "
        f"{r['storm_in_flight']} in flight from 4 processes), each connect + authenticate + lookup + producer "
        "+ one message, asking again after a retriable error as an application does; `AuthorizationError` "
        "refuses a client for good. The storm's seconds run until the last client produced; its latency is "
        "per client. All processes share the 2 CPUs. Errors: meshgate/built-in (storm: refused for good or "
        "gave up).\n\n"
    )


def _storm_details(m: dict[str, Any], b: dict[str, Any]) -> str:
    """Who came back and how, and the shim's p99 the connect deadline is sized from (3x, docs/shim.md)."""
    shim = m.get("shim", {})
    return (
        f"Storm, meshgate / built-in: produced {m['produced']:,} / {b['produced']:,} "
        f"({m['produced_after_retrying']:,} / {b['produced_after_retrying']:,} after retrying), refused for good "
        f"{m['refused']} / {b['refused']}, gave up {m['gave_up']} / {b['gave_up']}; errors retried: "
        f"{m['retried_kinds'] or 'none'} / {b['retried_kinds'] or 'none'}. Shim during the storm: p99 of service "
        f"answers ≤ {shim.get('decision_p99_s', float('nan'))} s and of connects ≤ "
        f"{shim.get('authentication_p99_s', float('nan'))} s (histogram bucket bounds; the defaults "
        "`meshgateConnectDeadlineMillis` and `meshgateAuthnDeadlineMillis`, 3 s, assume ≤ 1 s), retries "
        f"{shim.get('retries') or 'none'}, denials {shim.get('denials') or 'none'}.\n\n"
    )


def section(data: dict[str, Any], goals: Goals) -> str:
    r = data["result"]
    m, b = r["modes"]["meshgate"], r["modes"]["builtin"]
    rows = _rows(r, m, b)
    _goals(r, m, b, goals)
    plot = _plot(m, b)
    return (
        f"## {TITLE}\n\n"
        + provenance(data)
        + "\n"
        + _setup(r)
        + table(HEAD, rows)
        + f"\nBroker restart to ready: meshgate {m['restart_s']:.1f} s, built-in {b['restart_s']:.1f} s.\n\n"
        + _storm_details(m["storm"], b["storm"])
        + f"![broker]({plot})\n"
    )
