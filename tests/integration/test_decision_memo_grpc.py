"""The decision memo over a real gRPC server: answers memoized for one revision are never served after a
policy swap (the very next call, unary or batch, is decided by the new revision), and repeated questions
are answered from the memo (its hit counter on /metrics moves)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from meshgate.v1 import meshgate_pb2 as pb
from prometheus_client import generate_latest

if TYPE_CHECKING:
    from tests.integration.conftest import MeshgateServer, StartMeshgate

pytestmark = pytest.mark.integration
WRITER = "spiffe://meshgate.test/ns/payments/sa/writer"
ALLOW_WRITER = f"""\
apiVersion: meshgate.dev/v1
kind: AccessPolicy
metadata: {{name: payments}}
rules:
  - name: writer-produces
    effect: allow
    subjects: [{{spiffe: "{WRITER}"}}]
    actions: [produce]
    resources: ["persistent://acme/payments/*"]
"""
DENY_WRITER = f"""\
apiVersion: meshgate.dev/v1
kind: AccessPolicy
metadata: {{name: freeze}}
rules:
  - name: payments-frozen
    effect: deny
    subjects: [{{spiffe: "{WRITER}"}}]
    actions: [produce]
    resources: ["persistent://acme/payments/*"]
"""


def produce(topic: str = "orders") -> pb.AuthorizeRequest:
    resource = pb.Resource(
        tenant="acme", namespace="acme/payments", topic=f"persistent://acme/payments/{topic}"
    )
    return pb.AuthorizeRequest(principal=WRITER, action="topic.produce", resource=resource)


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "memo-policies"
    folder.mkdir()
    (folder / "payments.yaml").write_text(ALLOW_WRITER)
    return folder


@pytest.fixture
def server(start_meshgate: StartMeshgate, policy_dir: Path) -> MeshgateServer:
    """Not watched: the test swaps revisions itself, at a known moment."""
    return start_meshgate({"policy": {"dir": str(policy_dir), "watch": False}})


def _batch(server: MeshgateServer, n: int) -> list[pb.Decision]:
    request = pb.AuthorizeBatchRequest(requests=[produce(f"t{i % 3}") for i in range(n)])
    return list(server.stubs.authorization.AuthorizeBatch(request, timeout=5).decisions)


def test_a_policy_swap_is_seen_by_the_very_next_call(server: MeshgateServer, policy_dir: Path) -> None:
    authorize = server.stubs.authorization.Authorize
    for _ in range(3):
        assert authorize(produce(), timeout=5).decision.allowed
        assert all(d.allowed for d in _batch(server, 30))
    first = server.components.policies.current().revision
    (policy_dir / "freeze.yaml").write_text(DENY_WRITER)
    assert server.components.reloader.reload_now()  # swapped in this thread; the memo is not told first
    second = server.components.policies.current().revision
    assert second != first
    decision = authorize(produce(), timeout=5).decision
    assert (decision.allowed, decision.rule_id, decision.revision) == (
        False,
        "freeze.yaml#payments-frozen",
        second,
    )
    assert {(d.allowed, d.revision) for d in _batch(server, 30)} == {(False, second)}
    (policy_dir / "freeze.yaml").unlink()
    assert server.components.reloader.reload_now()
    assert authorize(produce(), timeout=5).decision.allowed


def test_repeated_questions_are_memo_hits(server: MeshgateServer) -> None:
    _batch(server, 30)
    text = generate_latest(server.components.metrics.registry).decode()
    hits = next(line for line in text.splitlines() if line.startswith("meshgate_decision_memo_hits_total"))
    assert float(hits.split()[-1]) >= 27  # 3 distinct questions in 30
