"""Audit log and sinks: sampling never drops a denial, a full queue drops and counts without blocking,
the file sink rotates, records carry no credential."""

from __future__ import annotations

import io
import json
import time
from datetime import UTC, datetime
from pathlib import Path

from meshgate.audit.config import AuditConfig, FileSinkConfig
from meshgate.audit.log import AuditLog
from meshgate.audit.sinks import FileWriter, QueuedSink, StreamWriter, encode
from meshgate.server.wire import authentication_record, decision_record
from meshgate.v1 import meshgate_pb2 as pb

from tests.support.audit_log import Recorder

AT = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"


def _decision(allowed: bool) -> dict[str, object]:
    request = pb.AuthorizeRequest(
        principal="spiffe://td/ns/a/sa/b",
        action="topic.produce",
        resource=pb.Resource(tenant="acme", namespace="acme/p", topic="persistent://acme/p/t"),
        credential=pb.Credential(token=TOKEN),
        request_id="r1",
        broker_id="broker-0",
        peer=pb.Peer(address="10.0.3.7:51234", auth_method="token", transport="binary"),
        credential_kind="k8s_sa_token",
    )
    decision = pb.Decision(allowed=allowed, rule_id="p.yaml#r", reason_code="x", revision="rev1")
    return decision_record(AT, request, decision)


def test_decision_record_without_a_named_kind_says_role_or_unknown() -> None:
    """Before, the record named the wire field of an attached credential (`token`, `certificate_chain`) or
    nothing at all; a kind is only what the plugin's authentication reported."""
    plain = pb.AuthorizeRequest(
        principal="admin-role", action="topic.produce", credential=pb.Credential(token=TOKEN)
    )
    workload = pb.AuthorizeRequest(principal="spiffe://td/ns/a/sa/b", action="topic.produce")
    assert decision_record(AT, plain, pb.Decision())["credential_kind"] == "role"
    assert decision_record(AT, workload, pb.Decision())["credential_kind"] == "unknown"


def test_decision_record_names_the_credential_kind_never_the_credential() -> None:
    record = _decision(True)
    line = encode(record)
    assert TOKEN not in line and "c2lnbmF0dXJl" not in line
    assert record["credential_kind"] == "k8s_sa_token"
    assert json.loads(line) == {
        "action": "topic.produce",
        "broker_id": "broker-0",
        "credential_kind": "k8s_sa_token",
        "decision": "allow",
        "event": "authorize",
        "peer": "10.0.3.7:51234",
        "principal": "spiffe://td/ns/a/sa/b",
        "reason_code": "x",
        "request_id": "r1",
        "resource": {"namespace": "acme/p", "tenant": "acme", "topic": "persistent://acme/p/t"},
        "revision": "rev1",
        "rule_id": "p.yaml#r",
        "time": "2026-01-01T12:00:00.000+00:00",
    }


def test_a_prefetched_decision_is_marked_and_an_asked_one_is_not() -> None:
    request = pb.AuthorizeRequest(principal="p", action="topic.produce", request_id="r9", prefetch=True)
    decision = pb.Decision(allowed=False, reason_code="no_matching_rule", revision="rev1")
    assert decision_record(AT, request, decision)["prefetch"] is True
    assert "prefetch" not in _decision(True)


def test_a_decision_record_carries_the_commit_beside_the_revision() -> None:
    request = pb.AuthorizeRequest(principal="p", action="topic.produce", request_id="r9")
    decision = pb.Decision(
        allowed=True, reason_code="allowed_by_rule", revision="sha256:ab", commit="3cc4291"
    )
    record = decision_record(AT, request, decision)
    assert (record["revision"], record["commit"]) == ("sha256:ab", "3cc4291")
    assert "commit" not in _decision(True)  # outside a git checkout there is none to name


def test_rejected_authentication_keeps_the_code_and_not_the_token() -> None:
    request = pb.AuthenticateRequest(credential=pb.Credential(token=TOKEN), request_id="r2")
    response = pb.AuthenticateResponse(rejection=pb.Rejection(code="expired", reason="token expired"))
    record = authentication_record(AT, request, response)
    assert (record["result"], record["code"], record["presented"]) == ("rejected", "expired", "token")
    assert TOKEN not in encode(record)


def test_sampling_drops_only_allows() -> None:
    recorder = Recorder()
    sink = QueuedSink("memory", recorder, capacity=100)
    audit = AuditLog([sink], allow_sample_rate=0.5, rng=iter([0.9, 0.1, 0.9, 0.9]).__next__)
    for allowed in (True, True, False, False):
        audit.record(_decision(allowed))
    audit.close()
    assert [json.loads(line)["decision"] for line in recorder.lines] == ["allow", "deny", "deny"]
    assert audit.sampled_out == 1


def test_a_full_queue_drops_and_counts_without_blocking() -> None:
    recorder = Recorder()
    recorder.gate.clear()  # the writer is stuck (a slow disk, a broker away)
    sink = QueuedSink("slow", recorder, capacity=2)
    audit = AuditLog([sink])
    began = time.monotonic()
    for _ in range(50):
        audit.record(_decision(False))
    assert time.monotonic() - began < 0.5
    recorder.gate.set()
    audit.close()
    stats = audit.stats()[0]
    assert stats.dropped >= 47 and stats.written + stats.dropped == 50
    assert len(recorder.lines) == stats.written


def test_file_sink_rotates_by_size(tmp_path: Path) -> None:
    path = tmp_path / "audit" / "audit.jsonl"
    writer = FileWriter(path, max_bytes=4096, backups=2)
    line = encode(_decision(False))
    for _ in range(100):
        writer.write([line])
    writer.close()
    files = sorted(p.name for p in path.parent.iterdir())
    assert files == ["audit.jsonl", "audit.jsonl.1", "audit.jsonl.2"]
    assert all(json.loads(text)["decision"] == "deny" for text in path.read_text().splitlines())


def test_file_sink_rotates_inside_a_batch_at_line_boundaries(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    writer = FileWriter(path, max_bytes=4096, backups=3)
    lines = [encode({"n": n, "pad": "x" * 190}) for n in range(100)]  # ~21 KB in one batch
    writer.write(lines)
    writer.close()
    files = [path.with_name(f"audit.jsonl.{n}") for n in (3, 2, 1)] + [path]
    assert all(f.stat().st_size <= 4096 for f in files)
    kept = [json.loads(text)["n"] for f in files for text in f.read_text().splitlines()]
    assert kept == list(range(100 - len(kept), 100))  # oldest lines went with the oldest backup, in order
    assert len(kept) > 60


def test_file_sink_without_backups_never_rotates(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    writer = FileWriter(path, max_bytes=4096, backups=0)
    writer.write([encode({"n": n, "pad": "x" * 90}) for n in range(100)])
    writer.close()
    assert [p.name for p in tmp_path.iterdir()] == ["audit.jsonl"]
    assert len(path.read_text().splitlines()) == 100


def test_file_sink_appends_to_an_existing_file_and_counts_its_size(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text("x" * 4000 + "\n")
    writer = FileWriter(path, max_bytes=4096, backups=1)
    writer.write([encode({"n": 1, "pad": "y" * 200})])
    writer.close()
    assert path.with_name("audit.jsonl.1").read_text() == "x" * 4000 + "\n"
    assert json.loads(path.read_text())["n"] == 1


def test_from_config_builds_the_configured_sinks(tmp_path: Path) -> None:
    config = AuditConfig(stdout=True, file=FileSinkConfig(path=tmp_path / "a.jsonl"))
    audit = AuditLog.from_config(config)
    assert [s.name for s in audit.stats()] == ["file", "stdout"] == list(config.sinks)
    audit.close()
    assert not AuditLog.from_config(AuditConfig(enabled=False, stdout=True)).enabled


def test_stream_writer_writes_one_line_per_record() -> None:
    out = io.StringIO()
    StreamWriter(out).write(["{}", '{"a":1}'])
    assert out.getvalue() == '{}\n{"a":1}\n'


def test_the_records_of_a_call_reach_the_writer_whole_and_in_order() -> None:
    recorder = Recorder()
    sink = QueuedSink("memory", recorder, capacity=100)
    audit = AuditLog([sink])
    audit.write_all([_decision(False), _decision(True)])
    audit.record_all([_decision(True), _decision(False)])
    audit.close()
    assert [json.loads(line)["decision"] for line in recorder.lines] == ["deny", "allow", "allow", "deny"]
    assert (sink.written, sink.dropped, sink.backlog) == (4, 0, 0)


def test_a_call_that_overflows_the_queue_keeps_what_fits_and_counts_the_rest() -> None:
    recorder = Recorder()
    recorder.gate.clear()  # the writer is stuck on the first call's lines
    sink = QueuedSink("slow", recorder, capacity=3)
    assert sink.offer_all(["a"]) == 1
    deadline = time.monotonic() + 5
    while sink.backlog and time.monotonic() < deadline:  # taken by the writer, which now waits on the gate
        time.sleep(0.001)
    assert sink.offer_all(["b", "c"]) == 2
    assert sink.offer_all(["d", "e", "f"]) == 1  # one record of room left: the first line of the call
    assert not sink.offer("g")
    assert (sink.backlog, sink.dropped) == (3, 3)
    recorder.gate.set()
    sink.close()
    assert recorder.lines == ["a", "b", "c", "d"]
    assert (sink.written, sink.backlog) == (4, 0)


def test_record_all_samples_each_allow_and_keeps_every_denial() -> None:
    recorder = Recorder()
    audit = AuditLog(
        [QueuedSink("m", recorder, capacity=10)], allow_sample_rate=0.5, rng=iter([0.9, 0.1]).__next__
    )
    audit.record_all([_decision(True), _decision(False), _decision(True)])
    audit.close()
    assert [json.loads(line)["decision"] for line in recorder.lines] == ["deny", "allow"]
    assert audit.sampled_out == 1


def test_encode_is_compact_sorted_json_that_keeps_non_ascii_text() -> None:
    record = {"z": "zürich", "a": {"y": 1, "b": [True, None]}, "m": 'quote " and \\ and \n'}
    line = encode(record)
    assert line == json.dumps(record, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    assert line.startswith('{"a":{"b":[true,null],"y":1},"m":') and "zürich" in line


# Every line break `str.splitlines` knows, in the strings a caller controls (peer, principal, subscription).
BREAKS = "\n \r \x0b \x0c \x1c \x1d \x1e \x85 \u2028 \u2029"


def test_a_record_is_one_line_for_every_reader_whatever_its_strings_hold(tmp_path: Path) -> None:
    request = pb.AuthorizeRequest(
        principal=f"app{BREAKS}",
        action="topic.consume",
        resource=pb.Resource(topic="persistent://acme/payments/orders"),
        subscription="sub\u2028{'forged': 'record'}",
        peer=pb.Peer(address=f"10.0.0.1:4000\u2029{BREAKS}"),
    )
    record = decision_record(AT, request, pb.Decision(allowed=False, reason_code="no_matching_rule"))
    line = encode(record)
    assert line.splitlines() == [line]
    assert json.loads(line) == json.loads(json.dumps(record))  # the same values, escaped
    writer = FileWriter(tmp_path / "audit.jsonl", max_bytes=1 << 20, backups=1)
    writer.write([line, encode({"next": 1})])
    writer.close()
    read_back = (tmp_path / "audit.jsonl").read_text("utf-8").splitlines()
    assert [json.loads(text) for text in read_back] == [json.loads(line), {"next": 1}]
