"""`ReportServed` over a real in-process service: the answers a broker plugin served itself reach the audit
file with the record shape of `Authorize`'s own, a malformed report is refused as a whole with
INVALID_ARGUMENT naming the entry, and what shims and the service lost is on /metrics."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import pytest
from meshgate.v1 import meshgate_pb2 as pb

from tests.integration.ops_support import READER, WRITER, HttpSide, authorize_request, value

if TYPE_CHECKING:
    from tests.integration.conftest import MeshgateServer, StartMeshgate

pytestmark = pytest.mark.integration
T0 = 1_767_268_800_000
PEER = pb.Peer(address="10.0.3.7:51234", auth_method="tls", transport="binary")


@pytest.fixture
def served(start_meshgate: StartMeshgate, tmp_path: Path) -> Iterator[tuple[MeshgateServer, HttpSide, Path]]:
    audit_file = tmp_path / "audit" / "audit.jsonl"
    server = start_meshgate({"http": {"listen": "127.0.0.1:0"}, "audit": {"file": {"path": str(audit_file)}}})
    http = HttpSide(server)
    yield server, http, audit_file
    http.stop()


def _entry(principal: str, allowed: bool, served_by: str, count: int = 1) -> pb.ServedDecision:
    question = authorize_request(
        principal, "topic.produce", peer=PEER, credential_kind="x509_svid", broker_id="standalone/10.0.0.5"
    )
    decision = pb.Decision(allowed=allowed, reason_code="r", revision="sha256:old", commit="c0ffee")
    return pb.ServedDecision(
        question=question, decision=decision, served_by=served_by, count=count,
        first_at_unix_ms=T0, last_at_unix_ms=T0 + 900 * (count - 1),
    )  # fmt: skip


def _records(http: HttpSide, path: Path, want: int) -> list[dict[str, object]]:
    deadline = time.monotonic() + 10
    while value(http.samples(), "meshgate_audit_records_written_total", sink="file") < want:
        assert time.monotonic() < deadline, "the audit sink did not catch up"
        time.sleep(0.05)
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_reported_answers_are_audited_with_the_revision_that_decided_them(
    served: tuple[MeshgateServer, HttpSide, Path],
) -> None:
    server, http, audit_file = served
    report = pb.ReportServedRequest(
        entries=[_entry(WRITER, True, "shim_cache", count=4), _entry(READER, False, "shim_cache")],
        dropped=2,
        broker_id="standalone/10.0.0.5",
    )
    assert server.stubs.authorization.ReportServed(report, timeout=10).recorded == 2
    allow, deny = _records(http, audit_file, want=2)
    assert allow["revision"] == "sha256:old" != server.components.reloader.status.revision
    assert (allow["served_by"], allow["count"], allow["commit"]) == ("shim_cache", 4, "c0ffee")
    assert allow["last_time"] == "2026-01-01T12:00:02.700+00:00"
    for record in (allow, deny):
        assert record["event"] == "authorize"
        assert (record["credential_kind"], record["peer"], record["broker_id"]) == (
            "x509_svid", "10.0.3.7:51234", "standalone/10.0.0.5"
        )  # fmt: skip
    assert (deny["principal"], deny["decision"], deny["count"]) == (READER, "deny", 1)
    samples = http.samples()
    assert value(samples, "meshgate_audit_served_reported_total", served_by="shim_cache") == 5
    assert value(samples, "meshgate_audit_served_dropped_total", where="shim") == 2
    assert value(samples, "meshgate_audit_served_dropped_total", where="service") == 0


def test_a_malformed_report_is_refused_whole_and_counted(
    served: tuple[MeshgateServer, HttpSide, Path],
) -> None:
    server, http, audit_file = served
    bad = _entry(READER, False, "shim_cache", count=1)
    bad.count = 2
    report = pb.ReportServedRequest(entries=[_entry(WRITER, True, "shim_cache", count=3), bad])
    with pytest.raises(grpc.RpcError) as refused:
        server.stubs.authorization.ReportServed(report, timeout=10)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details() == (
        "bad_request: entries[1].count: 2; every deny is reported on its own (count 1)"
    )
    assert value(http.samples(), "meshgate_audit_served_dropped_total", where="service") == 5
    assert not audit_file.exists() or audit_file.read_text() == ""


def test_authorize_refuses_a_credential_kind_its_method_cannot_carry(
    served: tuple[MeshgateServer, HttpSide, Path],
) -> None:
    """Checked before the decision memo: a remembered answer does not let a bad claim through."""
    server, http, audit_file = served
    good = authorize_request(WRITER, "topic.produce", peer=PEER, credential_kind="x509_svid")
    assert server.stubs.authorization.Authorize(good, timeout=10).decision.allowed
    bad = authorize_request(WRITER, "topic.produce", peer=PEER, credential_kind="oidc")
    with pytest.raises(grpc.RpcError) as refused:
        server.stubs.authorization.AuthorizeBatch(pb.AuthorizeBatchRequest(requests=[good, bad]), timeout=10)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details() == (
        "bad_request: credential_kind: auth method 'tls' carries linkerd_cert, x509_svid, not oidc"
    )
    (record,) = _records(http, audit_file, want=1)
    assert (record["credential_kind"], record["peer"]) == ("x509_svid", "10.0.3.7:51234")
