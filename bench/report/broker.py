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


def _storms(mode: dict[str, Any]) -> list[dict[str, Any]]:
    """Every storm of a mode (a result from before the repeats holds one)."""
    return list(mode.get("storms") or [mode["storm"]])


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def storm_figures(m: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """The storm's totals per run, their medians, the ratio of the medians and how far single pairs go."""
    mine = [s["last_produced"] for s in _storms(m)]
    theirs = [s["last_produced"] for s in _storms(b)]
    pairs = [x / y for x, y in zip(mine, theirs, strict=False) if y]
    return {
        "meshgate": mine,
        "builtin": theirs,
        "median_m": _median(mine),
        "median_b": _median(theirs),
        "ratio": _median(mine) / _median(theirs),
        "pair_ratios": pairs,
    }


def _seconds(values: list[float]) -> str:
    return ", ".join(f"{v:.1f}" for v in values)


def _rows(r: dict[str, Any], m: dict[str, Any], b: dict[str, Any]) -> list[list[str]]:
    rows = []
    for key, label in ROUNDS:
        mm, bb = m["rounds"][key], b["rounds"][key]
        label = label.replace("1,000", f"{r['topics']:,}")
        rows.append(_row(label, mm["wall"], bb["wall"], mm, bb, f"{mm['errors']}/{bb['errors']}"))
    ms_, bs = m["storm"], b["storm"]
    f = storm_figures(m, b)
    runs = len(f["meshgate"])
    storm = f"storm: {r['storm_clients']:,} new clients after restart, until the last produced" + (
        f" (median of {runs} runs each)" if runs > 1 else ""
    )
    failed = "/".join(str(sum(s["refused"] + s["gave_up"] for s in _storms(mode))) for mode in (m, b))
    rows.append(_row(storm, f["median_m"], f["median_b"], ms_, bs, failed))
    return rows


def _goals(r: dict[str, Any], m: dict[str, Any], b: dict[str, Any], goals: Goals) -> None:
    f = storm_figures(m, b)
    warm = max(m["rounds"][k]["wall"] / b["rounds"][k]["wall"] for k in ("producers_warm", "consumers_warm"))
    cold = max(m["rounds"][k]["wall"] / b["rounds"][k]["wall"] for k in ("producers_cold", "consumers_cold"))
    storm_ratio = f["ratio"]
    refused = sum(s["refused"] for s in _storms(m))
    gave_up = sum(s["gave_up"] for s in _storms(m))
    produced = sum(s["produced"] for s in _storms(m))
    retried = sum(s["produced_after_retrying"] for s in _storms(m))
    runs = len(f["meshgate"])
    spread = (
        f" (medians {f['median_m']:.1f} / {f['median_b']:.1f} s of {runs} interleaved runs each; meshgate "
        f"{_seconds(f['meshgate'])} s, built-in {_seconds(f['builtin'])} s; single pairs "
        f"{min(f['pair_ratios']):.2f}-{max(f['pair_ratios']):.2f}×)"
        if runs > 1 and f["pair_ratios"]
        else ""
    )
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
            f"broker: reconnect storm total ≤ 1.2× built-in, ratio of the medians{scaled}",
            f"{storm_ratio:.2f}×{spread}",
            verdict(storm_ratio <= 1.2),
        ],
        [
            f"broker: 0 clients refused for good after a restart, shim at its defaults{scaled}",
            f"{refused} refused, {gave_up} gave up, {produced:,} produced ({retried:,} after retrying)"
            + (f" in {runs} storms" if runs > 1 else ""),
            verdict(refused == 0 and gave_up == 0),
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
    f = storm_figures(m, b)
    groups["storm (median)"] = {"meshgate": f["median_m"], "built-in": f["median_b"]}
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
        "topics, each decision asked for the first time (topic creation included for both), warm = the same topics again after closing "
        f"({r.get('warm_repeats', 5)} warm rounds, the median shown). Storm: the "
        f"broker restarted on its data, then {r['storm_clients']:,} new clients (distinct principals and tokens; "
        f"{r['storm_in_flight']} in flight from 4 processes), each connect + authenticate + lookup + producer "
        "+ one message, asking again after a retriable error as an application does; `AuthorizationError` "
        "refuses a client for good. The storm's seconds run until the last client produced; its latency is "
        f"per client. The storm runs {r.get('storm_repeats', 1)} time(s) per mode, interleaved (meshgate, "
        "built-in, meshgate, ...; only the broker measured runs, each storm after its own restart, with "
        "principals no earlier storm used); the row shows the median run of each mode and the goal is the "
        "ratio of the medians (one storm moved 16.5-23.0 s between runs, finding 22). All processes share "
        "the 2 CPUs. Errors: meshgate/built-in (storm: refused for good or gave up, all runs).\n\n"
    )


def _client_errors(m: dict[str, Any], b: dict[str, Any]) -> str:
    """What the clients were told when something failed, over every storm (kinds, most frequent first)."""
    found = []
    for name, mode in (("meshgate", m), ("built-in", b)):
        errors: dict[str, int] = {}
        for s in _storms(mode):
            for kind, count in s.get("client_errors", {}).items():
                errors[kind] = errors.get(kind, 0) + count
        if errors:
            kinds = "; ".join(
                f"{count} × `{kind}`" for kind, count in sorted(errors.items(), key=lambda e: -e[1])
            )
            found.append(f"{name}: {kinds}")
    return "Client library errors in the storms: " + " / ".join(found) + ".\n\n" if found else ""


def _storm_runs(m: dict[str, Any], b: dict[str, Any]) -> str:
    """Every storm in the order it ran: seconds until the last client produced, restart, load before."""
    if len(_storms(m)) < 2:
        return (
            f"Broker restart to ready: meshgate {m['restart_s']:.1f} s, built-in {b['restart_s']:.1f} s.\n\n"
        )
    rows = [
        [
            str(i + 1),
            *(
                f"{s['last_produced']:.2f} (restart {s['restart_s']:.1f} s, load {s['load_before']:.2f})"
                for s in (ms_, bs)
            ),
            f"{ms_['last_produced'] / bs['last_produced']:.2f}×" if bs["last_produced"] else "-",
        ]
        for i, (ms_, bs) in enumerate(zip(_storms(m), _storms(b), strict=False))
    ]
    return (
        "Every storm, in the order run (seconds until the last client produced):\n\n"
        + table(["run", "meshgate", "built-in", "pair ratio"], rows)
        + "\n"
    )


def _storm_details(m: dict[str, Any], b: dict[str, Any]) -> str:
    """Who came back and how, and the shim's p99 the connect deadline is sized from (3x, docs/shim.md)."""
    shim = m.get("shim", {})
    return (
        f"Storm (the median run), meshgate / built-in: produced {m['produced']:,} / {b['produced']:,} "
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
        + "\n"
        + _storm_runs(m, b)
        + _client_errors(m, b)
        + _storm_details(m["storm"], b["storm"])
        + f"![broker]({plot})\n"
    )
