"""Report sections for the parts that run processes (gRPC, broker, propagation, memory)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench import plots
from bench.report import load, ms, provenance, rate, table, verdict


def _lat(point: dict[str, Any], q: str) -> str:
    return ms(point["latency"][q]) if point.get("latency") else "-"


def _sat(points: list[dict[str, Any]], concurrency: int) -> dict[str, Any]:
    return next(p for p in points if p["concurrency"] == concurrency and not p["offered_rps"])


def _hits(point: dict[str, Any]) -> str:
    ratio = point.get("memo_hit_ratio")
    return "-" if ratio is None else f"{ratio:.1%}"


def grpc(data: dict[str, Any], goals: list[list[str]]) -> str:
    r = data["result"]
    runs: dict[str, list[dict[str, Any]]] = r["runs"]
    rows = []
    for name, points in runs.items():
        for p in points:
            rows.append(
                [
                    name,
                    str(p["concurrency"]),
                    rate(p["offered_rps"]) if p["offered_rps"] else "max",
                    rate(p["rps"]),
                    _lat(p, "p50"),
                    _lat(p, "p99"),
                    _lat(p, "p999"),
                    str(p["errors_beyond_cutoff"]),
                ]
            )
    head = [
        "server/transport",
        "concurrency",
        "offered /s",
        "achieved /s",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "errors",
    ]
    for transport in ("tcp", "uds"):
        m, c = runs.get(f"meshgate/{transport}"), runs.get(f"cerbos/{transport}")
        if not (m and c):
            continue
        ms32, cs32 = _sat(m, 32), _sat(c, 32)
        ratio = ms32["rps"] / cs32["rps"]
        ok = ratio >= 1.5 and ms32["latency"]["p99"] <= cs32["latency"]["p99"]
        echo = runs.get(f"python-echo/{transport}")
        ceiling = f"; a bare Python echo: {_sat(echo, 32)['rps'] / cs32['rps']:.2f}×" if echo else ""
        goals.append(
            [
                f"gRPC {transport.upper()}: ≥ 1.5× Cerbos throughput at equal or better p99 (c=32)",
                f"{ratio:.2f}× ({rate(ms32['rps'])} vs {rate(cs32['rps'])}/s; p99 {_lat(ms32, 'p99')} vs "
                f"{_lat(cs32, 'p99')} ms{ceiling})",
                verdict(ok),
            ]
        )
    batch = r.get("batch", [])
    variants = r.get("batch_variants", {})
    distinct_n = variants.get("distinct", {}).get("distinct_requests", 0)
    if batch:
        by_variant = {
            v: max(
                (p for p in batch if p.get("variant", "repeated") == v), key=lambda p: p["decisions_per_s"]
            )
            for v in ("repeated", "distinct")
            if any(p.get("variant", "repeated") == v for p in batch)
        }
        judged = by_variant.get("distinct")
        rep = by_variant["repeated"]
        rep_text = (
            f"repeated questions (memo hits): {rate(rep['decisions_per_s'])}/s "
            f"({rep['transport']}, c={rep['concurrency']})"
        )
        goals.append(
            [
                "AuthorizeBatch ≥ 50k decisions/s (judged on distinct questions: memo misses)",
                f"{rate(judged['decisions_per_s'])}/s distinct ({judged['transport']}, c={judged['concurrency']}, "
                f"memo hits {_hits(judged)}); {rep_text}"
                if judged
                else f"not measured on distinct questions; {rep_text}",
                verdict(judged is not None and judged["decisions_per_s"] >= 50_000),
            ]
        )
    batch_rows = [
        [
            p.get("variant", "repeated"),
            p["transport"],
            str(p["concurrency"]),
            rate(p["rps"]),
            rate(p["decisions_per_s"]),
            _lat(p, "p50"),
            _lat(p, "p99"),
            _lat(p, "p999"),
            _hits(p),
        ]
        for p in batch
    ]
    curves = {
        name: [
            (p["rps"], p["latency"]["p99"] * 1e3) for p in pts if p["concurrency"] == 32 and p.get("latency")
        ]
        for name, pts in runs.items()
    }
    for pts in curves.values():
        pts.sort()
    plot = plots.grpc_latency(curves, "grpc.png", "Authorize vs Cerbos CheckResources (c=32, one server CPU)")
    large = r.get("large_policy")
    large_text = ""
    if large:
        s, b = large["single_c32"], large["batch_c4"]
        fresh = large.get("batch_c4_distinct")
        fresh_text = (
            f"; on distinct questions ({large['batch_distinct_requests']:,} different requests of the same mix, "
            f"none asked before, memo hits {_hits(fresh)}) {rate(fresh['decisions_per_s'])} decisions/s, p99 "
            f"{_lat(fresh, 'p99')} ms"
            if fresh
            else ""
        )
        large_text = (
            f"\nWith the generated **100,000-rule** policy (TCP): Authorize at c=32 {rate(s['rps'])}/s, p50 "
            f"{_lat(s, 'p50')} ms, p99 {_lat(s, 'p99')} ms; AuthorizeBatch at c=4 on repeated questions (the "
            f"same 100 different requests every call, memo hits {_hits(b)}) {rate(b['decisions_per_s'])} "
            f"decisions/s, p99 {_lat(b, 'p99')} ms{fresh_text}. Start-up to serving: {large['startup_s']:.0f} s.\n"
        )
    return (
        "## 2. Service over gRPC, against Cerbos\n\n"
        + provenance(data)
        + "\n"
        + "Load generator: **ghz v0.93.0** (Go; installed at run time with `go install`), pinned to CPU 0 "
        "with `taskset` and `GOMAXPROCS=1`, one HTTP/2 connection. Each server runs alone, pinned to CPU 1: "
        "`meshgate serve` (the real service, all interceptors, the two-rule policy below), **Cerbos "
        f"{r['_versions']['cerbos']}** (`@cerbos/cerbos-linux-x64` from npm; disk storage, audit and "
        "telemetry off) with the equivalent resource policy, and `python-echo` (bench/echo_server.py: a bare "
        "grpc server with a thread pool, the serving model of `meshgate serve`, answering Authorize with a "
        "constant: the ceiling of any one-process Python gRPC service here) and `python-echo-aio` (the same "
        "on grpc.aio, the model meshgate used before). Equivalent policy: writers may produce, readers consume topics of acme/payments; "
        "meshgate matches the SPIFFE ID, Cerbos the `writer` role the request carries. Every call is an "
        "allowed `topic.produce`; Cerbos's answer is checked once over its HTTP API. "
        f"{r['seconds_per_point']:.0f} s per point after a 1 s warm-up; 'errors' excludes the ≤ concurrency calls "
        "ghz cancels when the time is up.\n\n"
        + table(head, rows)
        + f"\n![grpc]({plot})\n\n"
        + "AuthorizeBatch, 100 allowed requests per call (meshgate, two-rule policy, writer producing on "
        "acme/payments topics). meshgate memoizes decisions per policy revision (LRU, "
        f"{variants.get('memo_entries', 16384):,} entries), so two variants: **repeated questions** sends the "
        "same message (100 different requests) every call, and after the first call every decision is a memo "
        "hit; **distinct questions** has ghz cycle round-robin through "
        f"{variants.get('distinct', {}).get('messages', 0)} messages holding {distinct_n:,} different requests "
        "(topics `t-<n>`), more than the memo holds, and every ghz run (warm-up included) gets its own requests, never asked before of that server: nearly every decision is "
        "evaluated by the policy. 'memo hits' is the server's own count over the point (`/metrics`). The goal "
        "is judged on distinct questions.\n\n"
        + table(
            [
                "questions",
                "transport",
                "concurrency",
                "calls/s",
                "decisions/s",
                "p50 ms",
                "p99 ms",
                "p99.9 ms",
                "memo hits",
            ],
            batch_rows,
        )
        + large_text
    )


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}×" if b else "-"


def broker(data: dict[str, Any], goals: list[list[str]]) -> str:
    r = data["result"]
    m, b = r["modes"]["meshgate"], r["modes"]["builtin"]
    rows = []
    for key, label in (
        ("producers_cold", "1,000 producers, cold"),
        ("producers_warm", "1,000 producers, warm"),
        ("consumers_cold", "1,000 consumers, cold"),
        ("consumers_warm", "1,000 consumers, warm"),
    ):
        mm, bb = m["rounds"][key], b["rounds"][key]
        rows.append(
            [
                label.replace("1,000", f"{r['topics']:,}"),
                f"{mm['wall']:.2f}",
                f"{bb['wall']:.2f}",
                _ratio(mm["wall"], bb["wall"]),
                ms(mm["latency"]["p50"]),
                ms(bb["latency"]["p50"]),
                ms(mm["latency"]["p99"]),
                ms(bb["latency"]["p99"]),
                f"{mm['errors']}/{bb['errors']}",
            ]
        )
    ms_, bs = m["storm"], b["storm"]
    rows.append(
        [
            f"storm: {r['storm_clients']:,} new clients after restart, until the last produced",
            f"{ms_['last_produced']:.2f}",
            f"{bs['last_produced']:.2f}",
            _ratio(ms_["last_produced"], bs["last_produced"]),
            ms(ms_["latency"]["p50"]),
            ms(bs["latency"]["p50"]),
            ms(ms_["latency"]["p99"]),
            ms(bs["latency"]["p99"]),
            f"{ms_['refused'] + ms_['gave_up']}/{bs['refused'] + bs['gave_up']}",
        ]
    )
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
    groups = {
        label: {"meshgate": m["rounds"][k]["wall"], "built-in": b["rounds"][k]["wall"]}
        for k, label in (
            ("producers_cold", "producers cold"),
            ("producers_warm", "producers warm"),
            ("consumers_cold", "consumers cold"),
            ("consumers_warm", "consumers warm"),
        )
    }
    groups["storm"] = {"meshgate": ms_["last_produced"], "built-in": bs["last_produced"]}
    plot = plots.bars(groups, "broker.png", "Through a real Pulsar 4.0.7 broker (lower is better)", "seconds")
    return (
        "## 4. Through the real broker, against Pulsar's built-in authorization\n\n"
        + provenance(data)
        + "\n"
        + "Pulsar **4.0.7** standalone (`devtools/broker.py`, subclassed in `bench/brokerenv.py` only to restart "
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
        + table(
            [
                "operation",
                "meshgate s",
                "built-in s",
                "ratio",
                "p50 ms m",
                "p50 ms b",
                "p99 ms m",
                "p99 ms b",
                "errors",
            ],
            rows,
        )
        + f"\nBroker restart to ready: meshgate {m['restart_s']:.1f} s, built-in {b['restart_s']:.1f} s.\n\n"
        + _storm_details(ms_, bs)
        + f"![broker]({plot})\n"
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


def propagation(data: dict[str, Any], goals: list[list[str]]) -> str:
    r = data["result"]
    nd, ld = r["new_denied"], r["live_disconnected"]
    goals += [
        [
            "policy commit → new producer denied, p99 ≤ 1 s",
            f"p99 {ms(nd['p99'])} ms (p50 {ms(nd['p50'])} ms, {int(nd['n'])}/{r['commits']} commits)",
            verdict(nd["missing"] == 0 and nd["p99"] <= 1.0),
        ],
        [
            "policy commit → live producer disconnected, p99 ≤ 2 s",
            f"p99 {ms(ld['p99'])} ms (p50 {ms(ld['p50'])} ms, {int(ld['n'])}/{r['commits']} commits)",
            verdict(ld["missing"] == 0 and ld["p99"] <= 2.0),
        ],
    ]
    series = {
        "new producer denied": [x["new_denied"] * 1e3 for x in r["rounds"] if x["new_denied"] is not None],
        "live producer disconnected": [
            x["live_disconnected"] * 1e3 for x in r["rounds"] if x["live_disconnected"] is not None
        ],
    }
    plot = plots.cdf(
        series, "propagation.png", f"Policy commit → effect ({r['commits']} commits)", "ms after the commit"
    )
    rows = [
        [label, ms(s["p50"]), ms(s["p99"]), ms(s["max"]), str(s["missing"])]
        for label, s in (("new producer denied", nd), ("live producer disconnected", ld))
    ]
    return (
        "## 5. Propagation: policy commit → effect\n\n"
        + provenance(data)
        + "\n"
        + f"{r['commits']} commits through a real Pulsar 4.0.7 broker with the shim (decision cache on, session "
        "revoker loaded) and `meshgate serve` watching its policy folder. Each commit adds one file (atomic "
        "rename) denying `topic.produce` on a fresh topic to a principal that holds a live, named producer "
        "there and whose allow for that topic is cached in the shim. Pollers every "
        f"{r['poll_s'] * 1000:.0f} ms: a new producer attempt, and the topic's stats for the live producer.\n\n"
        + table(["effect", "p50 ms", "p99 ms", "max ms", "not seen in 15 s"], rows)
        + f"\n![propagation]({plot})\n"
    )


def memory(data: dict[str, Any], goals: list[list[str]]) -> str:
    r = data["result"]
    py, shim = r["python"], r.get("shim", {})
    grpc_run = load("grpc")
    served = (grpc_run or {}).get("result", {}).get("large_policy", {})
    mib = 1 << 20
    tok = py["tokens_only"] - py["imported"]
    pol = py["policy_loaded"] - py["tokens_dropped"]
    rows = [
        ["interpreter + meshgate imported", f"{py['imported'] / mib:,.0f}", ""],
        [
            f"+ {py['tokens']:,} cached tokens (alone)",
            f"{py['tokens_only'] / mib:,.0f}",
            f"+{tok / mib:,.0f} MiB ({tok / py['tokens']:,.0f} B/token)",
        ],
        [
            f"tokens dropped, then the {py['rules']:,}-rule policy loaded",
            f"{py['policy_loaded'] / mib:,.0f}",
            f"+{pol / mib:,.0f} MiB ({pol / py['rules']:,.0f} B/rule)",
        ],
        [
            f"+ {py['tokens']:,} cached tokens: **100k rules and 100k tokens**",
            f"{py['tokens_cached'] / mib:,.0f}",
            f"+{(py['tokens_cached'] - py['policy_loaded']) / mib:,.0f} MiB",
        ],
    ]
    if "rss" in served:
        rows.append(
            [
                f"`meshgate serve` with the {py['rules']:,}-rule policy, after the gRPC load (part 2)",
                f"{served['rss'] / mib:,.0f}",
                "",
            ]
        )
    text = (
        "## 6. Memory\n\n"
        + provenance(data)
        + "\n"
        + "Service (RSS, `/proc/<pid>/status`, after `gc.collect()` and `malloc_trim(0)`): a fresh interpreter "
        "with 100k distinct verified identities in `TokenCache`, then without them, then the generated "
        "100k-rule policy, then the tokens again (filled with `put`, as `TokenAuthenticator` does "
        "after a verification; minting and verifying 100k RS256 tokens would take minutes and store the same "
        "thing); and the real `meshgate serve` process with that policy.\n\n"
        + table(["state", "RSS MiB", "delta"], rows)
    )
    if "heap_after" in shim:
        per = (shim["heap_after"] - shim["heap_before"]) / shim["entries"]
        text += (
            f"\nShim: `bench/java/.../CacheHeapProbe.java` fills the shim's own `DecisionCache` (Caffeine, keyed on "
            f"the full request + revision) with {shim['entries']:,} distinct produce decisions: heap "
            f"{shim['heap_before'] / mib:,.1f} → {shim['heap_after'] / mib:,.1f} MiB after full GCs, i.e. "
            f"**{per * 100_000 / mib:,.1f} MiB per 100k cached decisions** ({per:,.0f} B each).\n"
        )
    else:
        text += f"\nShim heap: not measured ({shim.get('error', 'shim cache not available')}).\n"
    return text


SECTIONS: list[tuple[str, str, Callable[[dict[str, Any], list[list[str]]], str]]] = [
    ("grpc", "2. Service over gRPC, against Cerbos", grpc),
    ("broker", "4. Through the real broker, against Pulsar's built-in authorization", broker),
    ("propagation", "5. Propagation: policy commit → effect", propagation),
    ("memory", "6. Memory", memory),
]
