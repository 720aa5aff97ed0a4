"""AuthenticateBatch over a real in-process service: each item answered exactly as Authenticate answers it,
in request order, a malformed item rejected on its own (the items come from unrelated connections), and
one audit record per item."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from meshgate.v1 import meshgate_pb2 as pb

from devtools import pki as dev_pki
from tests.integration.ops_support import WRITER, authenticate_request, chain_of

if TYPE_CHECKING:
    from tests.integration.conftest import MeshgateServer, StartMeshgate

pytestmark = pytest.mark.integration


@pytest.fixture
def audited(
    start_meshgate: StartMeshgate, pki: dev_pki.DevPki, tmp_path: Path
) -> tuple[MeshgateServer, Path]:
    audit_file = tmp_path / "audit.jsonl"
    server = start_meshgate(
        {
            "identity": {"trust_bundles": [f"{dev_pki.TRUST_DOMAIN}={pki.ca_file}"]},
            "audit": {"file": {"path": str(audit_file)}},
        }
    )
    return server, audit_file


def _items(pki: dev_pki.DevPki) -> list[pb.AuthenticateRequest]:
    stranger = pki.issue("batch-stranger", dev_pki.LeafSpec(uris=[WRITER]), dev_pki.DevCA("stranger"))[0]
    return [
        authenticate_request(chain_of(pki.cert("writer")), "b-0"),
        authenticate_request(chain_of(stranger), "b-1"),
        pb.AuthenticateRequest(request_id="b-2"),  # no credential
        pb.AuthenticateRequest(credential=pb.Credential(token="a.b.c"), request_id="b-3"),  # no issuer here
        authenticate_request([], "b-4"),  # an empty chain: INVALID_ARGUMENT for Authenticate
        authenticate_request(chain_of(pki.cert("writer")), "b-5"),
    ]


def _answers(server: MeshgateServer, items: list[pb.AuthenticateRequest]) -> list[pb.AuthenticateResponse]:
    batch = pb.AuthenticateBatchRequest(requests=items)
    return list(server.stubs.authentication.AuthenticateBatch(batch, timeout=5).responses)


def test_each_item_is_answered_as_authenticate_answers_it_in_order(
    audited: tuple[MeshgateServer, Path], pki: dev_pki.DevPki
) -> None:
    server, _ = audited
    items = _items(pki)
    answers = _answers(server, items)
    assert len(answers) == len(items)
    for item, answer in zip(items, answers, strict=True):
        if item.request_id == "b-4":
            continue  # Authenticate refuses the whole call; the batch answers it alone (next test)
        single = server.stubs.authentication.Authenticate(item, timeout=5)
        assert answer == single, item.request_id
    kinds = [a.WhichOneof("result") for a in answers]
    assert kinds == ["identity", "rejection", "rejection", "rejection", "rejection", "identity"]
    assert answers[0].identity.principal == answers[5].identity.principal == WRITER


def test_a_malformed_item_is_rejected_alone(
    audited: tuple[MeshgateServer, Path], pki: dev_pki.DevPki
) -> None:
    server, _ = audited
    answers = _answers(server, _items(pki))
    assert answers[4].rejection.code == "bad_request"
    assert "certificate_chain has no certificates" in answers[4].rejection.reason
    assert answers[5].identity.principal == WRITER  # its neighbours are still answered


def test_an_empty_batch_gets_an_empty_answer(audited: tuple[MeshgateServer, Path]) -> None:
    server, _ = audited
    assert _answers(server, []) == []


def test_every_item_gets_its_audit_record(audited: tuple[MeshgateServer, Path], pki: dev_pki.DevPki) -> None:
    server, audit_file = audited
    _answers(server, _items(pki))
    deadline = time.monotonic() + 5
    records: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        text = audit_file.read_text() if audit_file.exists() else ""
        records = [json.loads(line) for line in text.splitlines()]
        if len(records) >= 6:
            break
        time.sleep(0.05)
    assert [r["request_id"] for r in records] == [f"b-{n}" for n in range(6)]
    assert [r["event"] for r in records] == ["authenticate"] * 6
