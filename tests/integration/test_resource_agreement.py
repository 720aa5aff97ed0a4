"""`meshgate check`, `/v1/explain` and gRPC `Authorize` read a resource name the same way and give the same
decision. gRPC gets the Resource exactly as the broker shim builds it from Pulsar's `TopicName` (the rows
of tests/conformance/pulsar_names, per Pulsar version); `check` and explain get the name as a person types it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from meshgate.cli import main as meshgate_main
from meshgate.v1 import meshgate_pb2 as pb

from tests.conformance.pulsar_names import table
from tests.integration.ops_support import HttpSide

if TYPE_CHECKING:
    from tests.integration.conftest import StartMeshgate

pytestmark = pytest.mark.integration

POLICY = """\
apiVersion: meshgate.dev/v1
kind: AccessPolicy
metadata: {name: acme}
rules:
  - name: app-produces-in-acme
    effect: allow
    subjects: [{role: app}]
    actions: [produce, namespace.get_topics]
    resources: ["persistent://acme/*/*", "acme/*"]
"""
ALLOWED = (True, "allowed_by_rule")
INVALID = (False, "invalid_resource")
PULSAR = {(v, row["name"]): row for v in table.VERSIONS for row in table.load()[v]["names"]}

# (name typed, action, Pulsar version whose shim sends it, expected (allowed, reason_code))
TOPIC_CASES = [
    ("persistent://acme/pay/orders", "topic.produce", "4.0.7", ALLOWED),
    ("persistent://acme/pay/orders-partition-3", "topic.produce", "4.0.7", ALLOWED),
    ("persistent://acme/pay/orders-partition-03", "topic.produce", "4.2.4", ALLOWED),
    ("persistent://acme/us-east/pay/orders", "topic.produce", "4.0.7", INVALID),  # v1: 4-part
    ("persistent://acme/us-east/pay/orders-partition-1", "topic.produce", "4.0.7", INVALID),
    ("persistent://acme/us-east/pay/orders/more", "topic.produce", "4.0.7", INVALID),
    ("Persistent://acme/pay/orders", "topic.produce", "4.2.4", ALLOWED),  # 4.2 sends the domain as typed
    ("persistent://acme/pay/-partition-3", "topic.produce", "4.0.7", INVALID),
]
NAMESPACE_CASES = [
    ("acme/pay", "namespace.get_topics", ALLOWED),
    ("acme/us-east/pay", "namespace.get_topics", INVALID),  # v1 namespace, as NamespaceName.toString()
]


def shim_topic(name: str, version: str) -> pb.Resource:
    row = PULSAR[(version, name)]
    assert row["valid"], f"Pulsar {version} does not read {name!r}: the broker never asks about it"
    return pb.Resource(tenant=row["tenant"], namespace=row["namespace"], topic=row["string"])


def check_cli(policy: Path, name: str, action: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    args = ["check", "--policy", str(policy), "--principal", "app", "--action", action]
    code = meshgate_main([*args, "--resource", name, "--output", "json"])
    out = capsys.readouterr()
    assert code in (0, 1), out.err
    answer: dict[str, Any] = json.loads(out.out)
    assert code == (0 if answer["allowed"] else 1)
    return answer


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "acme.yaml").write_text(POLICY)
    return folder


def test_check_explain_and_grpc_agree(
    start_meshgate: StartMeshgate, policy_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = start_meshgate({"policy": {"dir": str(policy_dir)}, "http": {"listen": "127.0.0.1:0"}})
    http = HttpSide(server)
    cases = [(name, action, shim_topic(name, version), want) for name, action, version, want in TOPIC_CASES]
    cases += [
        (name, action, pb.Resource(tenant=name.split("/")[0], namespace=name), want)
        for name, action, want in NAMESPACE_CASES
    ]
    try:
        for name, action, resource, want in cases:
            request = pb.AuthorizeRequest(principal="app", action=action, resource=resource)
            decision = server.stubs.authorization.Authorize(request).decision
            params = {"principal": "app", "action": action, "resource": name}
            explained = http.client.get("/v1/explain", params=params)
            assert explained.status_code == 200, (name, explained.text)
            checked = check_cli(policy_dir, name, action, capsys)
            answers = {
                "grpc": (decision.allowed, decision.reason_code),
                "explain": (explained.json()["allowed"], explained.json()["reason_code"]),
                "check": (checked["allowed"], checked["reason_code"]),
            }
            assert answers == dict.fromkeys(answers, want), name
            assert explained.json()["reason"] == decision.reason, name
            assert explained.json()["rule_id"] == decision.rule_id, name
            assert checked == explained.json(), name  # one wire shape, one answer
    finally:
        http.stop()
