"""The HTTP side of a real in-process service after real gRPC traffic: /metrics scraped and parsed with
prometheus_client's parser, /readyz, /healthz, /v1/explain, /v1/who-can, and the audit file read back."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import pytest
from grpc_health.v1 import health_pb2
from meshgate.v1 import meshgate_pb2 as pb

from devtools import pki as dev_pki
from tests.integration.ops_support import (
    READER,
    WRITER,
    HttpSide,
    authenticate_request,
    authorize_request,
    chain_of,
    value,
)

if TYPE_CHECKING:
    from tests.integration.conftest import MeshgateServer, StartMeshgate

pytestmark = pytest.mark.integration


@pytest.fixture
def served(
    start_meshgate: StartMeshgate, pki: dev_pki.DevPki, tmp_path: Path
) -> Iterator[tuple[MeshgateServer, HttpSide, Path]]:
    audit_file = tmp_path / "audit" / "audit.jsonl"
    server = start_meshgate(
        {
            "identity": {"trust_bundles": [f"{dev_pki.TRUST_DOMAIN}={pki.ca_file}"]},
            "http": {"listen": "127.0.0.1:0"},
            "audit": {"file": {"path": str(audit_file)}},
        }
    )
    http = HttpSide(server)
    yield server, http, audit_file
    http.stop()


def _traffic(server: MeshgateServer, pki: dev_pki.DevPki) -> None:
    stubs = server.stubs
    writer_chain = chain_of(pki.cert("writer"))
    for _ in range(3):  # the first verifies, the next two are cache hits
        answer = stubs.authentication.Authenticate(authenticate_request(writer_chain, "req-authn"))
        assert answer.identity.principal == WRITER
    stranger = pki.issue("self", dev_pki.LeafSpec(uris=[WRITER]), dev_pki.DevCA("stranger"))[0]
    assert stubs.authentication.Authenticate(authenticate_request(chain_of(stranger))).rejection.code
    credential = pb.Credential(certificate_chain=pb.CertificateChain(der=writer_chain))
    allowed = stubs.authorization.Authorize(
        authorize_request(
            WRITER,
            "topic.produce",
            request_id="req-1",
            broker_id="broker-0",
            credential=credential,
            peer=pb.Peer(address="10.0.3.7:51234", auth_method="tls", transport="binary"),
            credential_kind="x509_svid",
        )
    )
    assert allowed.decision.allowed
    denied = stubs.authorization.Authorize(authorize_request(READER, "topic.produce", request_id="req-2"))
    assert not denied.decision.allowed
    batch = pb.AuthorizeBatchRequest(
        requests=[
            authorize_request(READER, "topic.consume", subscription="billing"),
            authorize_request(READER, "x.y"),
        ]
    )
    assert [d.allowed for d in stubs.authorization.AuthorizeBatch(batch).decisions] == [True, False]
    with pytest.raises(grpc.RpcError) as bad:
        stubs.authorization.Authorize(pb.AuthorizeRequest(action="topic.produce"))
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_metrics_after_real_traffic(
    served: tuple[MeshgateServer, HttpSide, Path], pki: dev_pki.DevPki
) -> None:
    server, http, _ = served
    _traffic(server, pki)
    s = http.samples()
    produce = {"action": "topic.produce"}
    assert value(s, "meshgate_decisions_total", result="allow", reason_code="allowed_by_rule", **produce) == 1
    assert value(s, "meshgate_decisions_total", result="deny", reason_code="no_matching_rule", **produce) == 1
    assert (
        value(s, "meshgate_decisions_total", result="deny", action="unknown", reason_code="unknown_action")
        == 1
    )
    assert (
        value(
            s, "meshgate_authentications_total", result="authenticated", credential_kind="x509_svid", code=""
        )
        == 3
    )
    rejected = [k for k in s if k[0] == "meshgate_authentications_total" and ("result", "rejected") in k[1]]
    assert len(rejected) == 1 and s[rejected[0]] == 1
    authorize = {"method": "Authorization/Authorize"}
    assert value(s, "meshgate_rpc_duration_seconds_count", **authorize) == 3
    assert value(s, "meshgate_rpcs_total", code="INVALID_ARGUMENT", **authorize) == 1
    assert value(s, "meshgate_rpc_duration_seconds_count", method="Authorization/AuthorizeBatch") == 1
    # Authenticate x3 + the credential attached to the allowed Authorize: one miss, three hits.
    assert value(s, "meshgate_x509_cache_hits_total") == 3
    assert value(s, "meshgate_x509_cache_misses_total") == 2  # the writer once, the stranger once
    assert value(s, "meshgate_x509_cache_hit_ratio") == pytest.approx(3 / 5)
    assert value(s, "meshgate_x509_cache_entries") == 1
    status = server.components.reloader.status
    commit = status.commit or "none"
    assert value(s, "meshgate_policy_revision_info", revision=status.revision, commit=commit) == 1
    assert value(s, "meshgate_policy_last_reload_success_timestamp_seconds") == pytest.approx(
        time.time(), abs=120
    )
    assert value(s, "meshgate_policy_reload_failures_total") == 0
    assert 0 <= value(s, "meshgate_trust_bundle_age_seconds") < 120
    assert value(s, "meshgate_ready") == 1
    assert value(s, "meshgate_audit_records_dropped_total", sink="file") == 0


def test_audit_file_holds_every_decision_and_no_credential(
    served: tuple[MeshgateServer, HttpSide, Path], pki: dev_pki.DevPki
) -> None:
    server, http, audit_file = served
    _traffic(server, pki)
    deadline = time.monotonic() + 10
    while value(http.samples(), "meshgate_audit_records_written_total", sink="file") < 8:
        assert time.monotonic() < deadline, "the audit sink did not catch up"
        time.sleep(0.05)
    text = audit_file.read_text()
    records = [json.loads(line) for line in text.splitlines()]
    decisions = [r for r in records if r["event"] == "authorize"]
    assert len(decisions) == 4 and len([r for r in records if r["event"] == "authenticate"]) == 4
    first = decisions[0]
    assert {k: first[k] for k in ("principal", "credential_kind", "action", "decision", "rule_id")} == {
        "principal": WRITER,
        "credential_kind": "x509_svid",
        "action": "topic.produce",
        "decision": "allow",
        "rule_id": "payments.yaml#writer-produces",
    }
    assert (first["reason_code"], first["request_id"], first["broker_id"], first["peer"]) == (
        "allowed_by_rule",
        "req-1",
        "broker-0",
        "10.0.3.7:51234",
    )
    assert first["revision"] == server.components.reloader.status.revision
    assert first["resource"]["topic"] == "persistent://acme/payments/orders" and first["time"]
    rejected = [r for r in records if r.get("result") == "rejected"]
    assert len(rejected) == 1 and rejected[0]["code"] and "principal" not in rejected[0]
    for secret in (pki.cert("writer").read_text().splitlines()[1][:40], "BEGIN", "PRIVATE"):
        assert secret not in text


def test_health_readiness_and_policy_endpoints(served: tuple[MeshgateServer, HttpSide, Path]) -> None:
    server, http, _ = served
    assert http.client.get("/healthz").text == "ok\n"
    ready = http.client.get("/readyz")
    assert ready.status_code == 200
    assert [c["name"] for c in ready.json()["checks"]] == ["policy", "trust_bundles"]
    params = {
        "principal": WRITER,
        "action": "topic.produce",
        "resource": "persistent://acme/payments/ledger-audit",
    }
    explained = http.client.get("/v1/explain", params=params).json()
    assert explained["allowed"] is False
    assert explained["rule_id"] == "payments.yaml#ledger-audit-is-append-only-for-ledger"
    assert explained["subject"] == WRITER  # the subject of the deciding rule that matched
    assert explained["reason_code"] == "denied_by_rule"
    status = server.components.reloader.status
    assert (explained["revision"], explained["commit"]) == (status.revision, status.commit)
    assert http.client.get("/v1/explain", params={"action": "topic.produce"}).status_code == 400
    found = http.client.get(
        "/v1/who-can", params={"action": "topic.produce", "resource": "persistent://acme/payments/x"}
    )
    assert (found.json()["revision"], found.json()["commit"]) == (status.revision, status.commit)
    grantees = {(g["subject"], g["effect"], g["rule_id"]) for g in found.json()["grantees"]}
    assert (WRITER, "allow", "payments.yaml#writer-produces") in grantees
    assert (
        server.stubs.health.Check(health_pb2.HealthCheckRequest()).status
        == health_pb2.HealthCheckResponse.SERVING
    )


def test_not_ready_without_a_policy_says_why_on_http_and_grpc(
    start_meshgate: StartMeshgate, tmp_path: Path
) -> None:
    server = start_meshgate({"policy": {"dir": str(tmp_path / "missing")}, "http": {"listen": "127.0.0.1:0"}})
    http = HttpSide(server)
    try:
        ready = http.client.get("/readyz")
        assert ready.status_code == 503
        assert (
            ready.json()["checks"][0]["ok"] is False
            and "no valid policy" in ready.json()["checks"][0]["detail"]
        )
        health = server.stubs.health.Check(health_pb2.HealthCheckRequest(service="meshgate.v1.Authorization"))
        assert health.status == health_pb2.HealthCheckResponse.NOT_SERVING
        assert http.client.get("/healthz").status_code == 200  # alive, just not ready
        params = {"principal": WRITER, "action": "topic.produce", "resource": "persistent://acme/payments/x"}
        assert http.client.get("/v1/explain", params=params).status_code == 503
        assert value(http.samples(), "meshgate_ready") == 0
    finally:
        http.stop()
