"""The broker part's storm repeats (bench/broker.py, bench/report/broker.py): the goal row is judged on the
ratio of the medians of interleaved runs and lists every run, and a result of one storm still renders."""

from __future__ import annotations

from typing import Any

from bench import broker
from bench.report import broker as report


def _storm(seconds: float, refused: int = 0) -> dict[str, Any]:
    return {
        "last_produced": seconds,
        "produced": 100 - refused,
        "produced_after_retrying": 1,
        "refused": refused,
        "gave_up": 0,
        "restart_s": 7.0,
        "load_before": 0.5,
        "latency": {"p50": 0.1, "p99": 0.2},
    }


def _mode(*seconds: float) -> dict[str, Any]:
    runs = [_storm(s) for s in seconds]
    rounds = {k: {"wall": 1.0, "errors": 0, "latency": {"p50": 0.1, "p99": 0.2}} for k, _ in report.ROUNDS}
    return {"rounds": rounds, "storms": runs, "storm": runs[0], "restart_s": 7.0}


def test_the_goal_is_the_ratio_of_the_medians_not_of_one_pair() -> None:
    # one bad pair (30 / 10) must not decide: medians 12 / 11
    m, b = _mode(30.0, 12.0, 11.0, 13.0, 12.5), _mode(10.0, 11.0, 12.0, 10.5, 11.5)
    figures = report.storm_figures(m, b)
    assert figures["median_m"] == 12.5 and figures["median_b"] == 11.0
    assert abs(figures["ratio"] - 12.5 / 11.0) < 1e-9
    assert max(figures["pair_ratios"]) == 3.0

    goals: list[list[str]] = []
    report._goals({"storm_clients": 5000}, m, b, goals)
    storm = next(g for g in goals if "reconnect storm" in g[0])
    assert storm[1].startswith("1.14\u00d7") and storm[2] == "met"
    assert "meshgate 30.0, 12.0, 11.0, 13.0, 12.5 s" in storm[1] and "0.92-3.00\u00d7" in storm[1]
    refused = next(g for g in goals if "refused for good" in g[0])
    assert refused[1].startswith("0 refused, 0 gave up, 500 produced") and "in 5 storms" in refused[1]


def test_a_refusal_in_any_run_misses_the_refusal_goal() -> None:
    m, b = _mode(12.0, 12.0, 12.0), _mode(11.0, 11.0, 11.0)
    m["storms"][1] = _storm(12.0, refused=2)
    goals: list[list[str]] = []
    report._goals({"storm_clients": 5000}, m, b, goals)
    assert next(g for g in goals if "refused for good" in g[0])[2] == "**missed**"


def test_every_run_is_listed_in_the_order_run() -> None:
    text = report._storm_runs(_mode(30.0, 12.0), _mode(10.0, 11.0))
    assert "| 1 | 30.00 (restart 7.0 s, load 0.50) | 10.00 (restart 7.0 s, load 0.50) | 3.00\u00d7 |" in text
    assert "| 2 | 12.00" in text


def test_a_result_of_one_storm_still_renders() -> None:
    m, b = _mode(12.0), _mode(10.0)
    for mode in (m, b):
        del mode["storms"]
    assert report.storm_figures(m, b)["ratio"] == 1.2
    assert report._storm_runs(m, b).startswith("Broker restart to ready")


def test_client_errors_of_every_storm_are_summed_by_kind() -> None:
    m, b = _mode(12.0, 12.0), _mode(11.0, 11.0)
    m["storms"][0]["client_errors"] = {"Failed partition-metadata lookup error: AuthorizationError": 2}
    m["storms"][1]["client_errors"] = {"Failed partition-metadata lookup error: AuthorizationError": 1}
    text = report._client_errors(m, b)
    assert text.startswith(
        "Client library errors in the storms: meshgate: 3 \u00d7 `Failed partition-metadata"
    )
    assert "built-in" not in text
    assert report._client_errors(_mode(1.0), _mode(1.0)) == ""


def test_a_client_error_line_loses_its_time_thread_and_numbers() -> None:
    line = (
        "2026-12-04 17:16:34.685 ERROR [139765340858048] ClientConnection:1575 | [127.0.0.1:59694 -> "
        "127.0.0.1:33549] Failed partition-metadata lookup req_id: 1 error: AuthorizationError"
    )
    assert broker.client_error(line) == (
        "[N.N.N.N:N -> N.N.N.N:N] Failed partition-metadata lookup req_id: N error: AuthorizationError"
    )
