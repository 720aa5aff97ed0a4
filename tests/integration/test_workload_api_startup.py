"""Trust bundles from the SPIFFE Workload API when the agent is not there at start (issue #18): `serve` comes
up not ready, with the reason in /readyz and `meshgate_trust_bundle_load_error 1`, and refuses every
certificate until bundles arrive; the same readiness check and metric as for files."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import generate_latest

from tests.integration.conftest import StartMeshgate


def test_unreachable_agent_at_start_is_not_ready_with_the_reason(
    start_meshgate: StartMeshgate, tmp_path: Path
) -> None:
    socket = tmp_path / "agent.sock"  # never created
    workload_api = {"enabled": True, "socket": f"unix://{socket}", "start_timeout_seconds": 0.2}
    server = start_meshgate({"identity": {"workload_api": workload_api}})
    readiness = server.components.readiness()
    check = next(c for c in readiness.checks if c.name == "trust_bundles")
    assert not readiness.ready
    assert not check.ok
    assert check.detail == (
        f"last reload failed: cannot reach the SPIFFE Workload API: Invalid WorkloadApiClient configuration: "
        f'SPIFFE socket file "{socket}" does not exist.'
    )
    metrics = generate_latest(server.components.metrics.registry).decode()
    assert "meshgate_trust_bundle_load_error 1.0" in metrics
