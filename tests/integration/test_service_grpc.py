"""The service surface over a real gRPC server on 127.0.0.1:0: health, reflection, malformed requests,
fail-closed without a policy, and the revision stream following a policy folder change."""

from __future__ import annotations

import json
import queue
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2
from meshgate.v1 import meshgate_pb2 as pb

from tests.integration.conftest import EXAMPLE_POLICIES

if TYPE_CHECKING:
    from tests.integration.conftest import MeshgateServer, StartMeshgate, Stubs

pytestmark = pytest.mark.integration
SERVICES = ("meshgate.v1.Authentication", "meshgate.v1.Authorization")
WRITER = "spiffe://meshgate.test/ns/payments/sa/writer"
NEWCOMER = "spiffe://meshgate.test/ns/payments/sa/newcomer"
BROKER = "spiffe://meshgate.test/ns/pulsar/sa/broker"
TOPIC = pb.Resource(tenant="acme", namespace="acme/payments", topic="persistent://acme/payments/orders")
NEWCOMER_POLICY = f"""\
apiVersion: meshgate.dev/v1
kind: AccessPolicy
metadata: {{name: newcomer}}
rules:
  - name: newcomer-produces
    effect: allow
    subjects: [{{spiffe: "{NEWCOMER}"}}]
    actions: [produce]
    resources: ["persistent://acme/payments/orders"]
"""


def produce(principal: str) -> pb.AuthorizeRequest:
    return pb.AuthorizeRequest(principal=principal, action="topic.produce", resource=TOPIC, request_id="svc")


def health_status(stubs: Stubs, service: str = "") -> int:
    request = health_pb2.HealthCheckRequest(service=service)
    status: int = stubs.health.Check(request, timeout=5).status
    return status


def test_health_is_serving_for_the_server_and_each_service(stubs: Stubs) -> None:
    for service in ("", *SERVICES):
        assert health_status(stubs, service) == health_pb2.HealthCheckResponse.SERVING, service


def test_reflection_lists_the_services(stubs: Stubs) -> None:
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    (response,) = list(stubs.reflection.ServerReflectionInfo(iter([request]), timeout=5))
    names = {service.name for service in response.list_services_response.service}
    assert names >= {*SERVICES, "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"}


@pytest.mark.parametrize(
    "request_",
    [
        pb.AuthorizeRequest(action="topic.produce", resource=TOPIC),
        pb.AuthorizeRequest(principal=WRITER, resource=TOPIC),
        pb.AuthorizeRequest(),
    ],
    ids=["missing-principal", "missing-action", "empty"],
)
def test_malformed_authorize_is_invalid_argument(stubs: Stubs, request_: pb.AuthorizeRequest) -> None:
    with pytest.raises(grpc.RpcError) as failed:
        stubs.authorization.Authorize(request_, timeout=5)
    assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "required" in (failed.value.details() or "")


def test_malformed_batch_is_invalid_argument(stubs: Stubs) -> None:
    batch = pb.AuthorizeBatchRequest(requests=[produce(WRITER), pb.AuthorizeRequest(principal=WRITER)])
    with pytest.raises(grpc.RpcError) as failed:
        stubs.authorization.AuthorizeBatch(batch, timeout=5)
    assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_empty_certificate_chain_is_invalid_argument(stubs: Stubs) -> None:
    credential = pb.Credential(certificate_chain=pb.CertificateChain())
    with pytest.raises(grpc.RpcError) as failed:
        stubs.authentication.Authenticate(pb.AuthenticateRequest(credential=credential), timeout=5)
    assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_authenticate_without_credential_or_verifier_is_a_rejection(stubs: Stubs) -> None:
    response = stubs.authentication.Authenticate(pb.AuthenticateRequest(), timeout=5)
    assert response.rejection.code == "no_credential"
    token = pb.AuthenticateRequest(credential=pb.Credential(token="a.b.c"))
    response = stubs.authentication.Authenticate(token, timeout=5)
    assert response.rejection.code == "not_configured"  # this server trusts no issuer


def test_decisions_name_rule_and_revision(meshgate: MeshgateServer) -> None:
    decision = meshgate.stubs.authorization.Authorize(produce(WRITER), timeout=5).decision
    assert (decision.allowed, decision.reason_code, decision.rule_id) == (
        True,
        "allowed_by_rule",
        "payments.yaml#writer-produces",
    )
    assert decision.revision == meshgate.components.policies.current().revision


@pytest.mark.parametrize(
    "content", [None, "rules: [not, a, policy\n"], ids=["missing-folder", "invalid-policy"]
)
def test_without_a_valid_policy_nothing_is_allowed(
    start_meshgate: StartMeshgate, tmp_path: Path, content: str | None
) -> None:
    folder = tmp_path / "policies"
    if content is not None:
        folder.mkdir()
        (folder / "broken.yaml").write_text(content)
    server = start_meshgate({"policy": {"dir": str(folder), "superusers": [BROKER]}})
    assert health_status(server.stubs) == health_pb2.HealthCheckResponse.NOT_SERVING
    for principal in (WRITER, BROKER):  # not even a super user: super users are part of a policy revision
        try:
            decision = server.stubs.authorization.Authorize(produce(principal), timeout=5).decision
        except grpc.RpcError as failed:
            assert failed.code() in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.UNAVAILABLE)
        else:
            assert not decision.allowed, decision
            assert decision.reason_code


def test_watch_revision_sends_current_then_each_new_one(meshgate: MeshgateServer, policy_dir: Path) -> None:
    first = meshgate.components.policies.current().revision
    call = meshgate.stubs.authorization.WatchRevision(pb.WatchRevisionRequest(), timeout=30)
    events = _drain(call)
    try:
        assert events.get(timeout=5).revision == first
        assert not meshgate.stubs.authorization.Authorize(produce(NEWCOMER), timeout=5).decision.allowed
        (policy_dir / "newcomer.yaml").write_text(NEWCOMER_POLICY)
        second = events.get(timeout=15)
        assert second.revision and second.revision != first
        assert second.activated_at_unix_ms > 0
        decision = meshgate.stubs.authorization.Authorize(produce(NEWCOMER), timeout=5).decision
        assert (decision.allowed, decision.rule_id) == (True, "newcomer.yaml#newcomer-produces")
        assert decision.revision == second.revision
    finally:
        call.cancel()


def test_an_uncommitted_policy_change_is_a_new_revision_on_the_wire(
    start_meshgate: StartMeshgate, tmp_path: Path
) -> None:
    """A hot fix in a checkout (or a ConfigMap below a `.git`) keeps HEAD. The revision the broker plugin
    keys its cache, stale-if-error and session re-checks on must still change with the content, come back
    with it, and the commit travel beside it as a label (#16)."""
    sha = "3cc4291" + "a" * 33
    checkout = tmp_path / "checkout"
    folder = checkout / "policies"
    shutil.copytree(EXAMPLE_POLICIES, folder)
    (checkout / ".git").mkdir()
    (checkout / ".git" / "HEAD").write_text(sha + "\n")
    audit = tmp_path / "audit.jsonl"
    server = start_meshgate(
        {"policy": {"dir": str(folder), "watch": True}, "audit": {"file": {"path": str(audit)}}}
    )
    call = server.stubs.authorization.WatchRevision(pb.WatchRevisionRequest(), timeout=30)
    events = _drain(call)
    try:
        first = events.get(timeout=5)
        assert not server.stubs.authorization.Authorize(produce(NEWCOMER), timeout=5).decision.allowed
        (folder / "newcomer.yaml").write_text(NEWCOMER_POLICY)  # no commit
        second = events.get(timeout=15)
        assert second.revision != first.revision, "same HEAD, new content: the revision must change"
        decision = server.stubs.authorization.Authorize(produce(NEWCOMER), timeout=5).decision
        assert (decision.allowed, decision.revision, decision.commit) == (True, second.revision, sha)
        (folder / "newcomer.yaml").unlink()  # back to the first content: back to its revision
        assert events.get(timeout=15).revision == first.revision
        assert (first.commit, second.commit) == (sha, sha) and first.revision.startswith("sha256:")
    finally:
        call.cancel()
    allowed = _first_record(audit, lambda r: r.get("decision") == "allow")
    assert (allowed["revision"], allowed["commit"]) == (second.revision, sha)


def _first_record(path: Path, wanted: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The first audit record that `wanted`, waiting for the sink's writer thread (5 s at most)."""
    deadline = time.monotonic() + 5
    while True:
        lines = path.read_text().splitlines() if path.exists() else []
        found = [r for r in map(json.loads, lines) if wanted(r)]
        if found or time.monotonic() > deadline:
            assert found, f"no such audit record in {lines}"
            return dict(found[0])
        time.sleep(0.01)


def _drain(call: grpc.Call) -> queue.Queue[pb.RevisionEvent]:
    """Read a server stream on a thread, so the test can wait on each event with a timeout."""
    events: queue.Queue[pb.RevisionEvent] = queue.Queue()

    def read() -> None:
        try:
            for event in call:  # type: ignore[attr-defined]
                events.put(event)
        except grpc.RpcError:
            return  # cancelled at the end of the test

    threading.Thread(target=read, name="watch-revision", daemon=True).start()
    return events
