"""The X.509 conformance table over gRPC: every case against a real server bound to 127.0.0.1:0.

Each case mints its own CAs, so each gets its own server: the case's bundles written to PEM files and named
in `identity.trust_bundles`, its verifier options in the identity section, its `now` as a `FixedClock`. The
chain goes out in an `Authenticate` call; the identity or the rejection code must equal the table's.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from meshgate.clock import FixedClock
from meshgate.v1 import meshgate_pb2 as pb

from tests.conformance.x509.build import Material, VerifierOptions, iter_cases
from tests.support.authenticate_answers import identity_or_rejection

if TYPE_CHECKING:
    from tests.integration.conftest import StartMeshgate

pytestmark = pytest.mark.integration
CASES = list(iter_cases())

# Verifier settings the service configuration does not expose; the in-process runner covers these cases.
_NOT_CONFIGURABLE = {
    "linkerd_disabled": "Linkerd naming cannot be switched off in identity config",
    "custom_max_chain_length": "max_chain_length is not an identity config key",
}
# An empty chain cannot be a rejection over gRPC: the request itself is malformed (docs: proto contract).
_STATUS_INSTEAD_OF_REJECTION = {"empty_chain": grpc.StatusCode.INVALID_ARGUMENT}


def _params() -> list[Any]:
    params = []
    for material in CASES:
        reason = _NOT_CONFIGURABLE.get(material.case_id)
        marks = [pytest.mark.skip(reason=f"not replayable over gRPC: {reason}")] if reason else []
        case_id = f"{material.case_id}[skip: {reason}]" if reason else material.case_id
        params.append(pytest.param(material, id=case_id, marks=marks))
    return params


def identity_section(material: Material, directory: Path) -> dict[str, Any]:
    """Write the case's bundles as `TD=FILE` specs and carry its verifier options."""
    specs = []
    for index, (trust_domain, pems) in enumerate(material.bundle_pems_by_trust_domain.items()):
        path = directory / f"bundle-{index}.pem"
        path.write_bytes(b"".join(pems))
        specs.append(f"{trust_domain}={path}")
    options: VerifierOptions = material.expected.options
    section: dict[str, Any] = {"trust_bundles": specs, "max_skew_seconds": options.max_skew_seconds}
    if options.linkerd:
        section["linkerd"] = dict(options.linkerd)
    return section


def authenticate(stub: Any, chain: list[bytes]) -> pb.AuthenticateResponse:
    credential = pb.Credential(certificate_chain=pb.CertificateChain(der=chain))
    peer = pb.Peer(address="127.0.0.1:40000", auth_method="tls", transport="binary")
    response: pb.AuthenticateResponse = stub.Authenticate(
        pb.AuthenticateRequest(credential=credential, peer=peer, request_id="x509-conformance"), timeout=10
    )
    return response


@pytest.mark.parametrize("material", _params())
def test_case_over_grpc(material: Material, start_meshgate: StartMeshgate, tmp_path: Path) -> None:
    raw = {"identity": identity_section(material, tmp_path)}
    # No watchers (background=False): nothing changes during a case, and each case has its own server.
    server = start_meshgate(raw, FixedClock(material.now), background=False)
    expected = material.expected
    status = _STATUS_INSTEAD_OF_REJECTION.get(material.case_id)
    if status is not None:
        with pytest.raises(grpc.RpcError) as failed:
            authenticate(server.stubs.authentication, material.chain_der)
        assert failed.value.code() == status
        return
    response = authenticate(server.stubs.authentication, material.chain_der)
    identity = identity_or_rejection(response, expected.error)
    if identity is None:
        return
    assert (identity.principal, identity.credential_kind) == (expected.principal, expected.kind)
    assert identity.issuer == identity.principal.split("/")[2]
    assert identity.expires_at_unix_ms > 0


def test_every_case_is_replayed_or_explained() -> None:
    ids = {material.case_id for material in CASES}
    assert set(_NOT_CONFIGURABLE) <= ids and set(_STATUS_INSTEAD_OF_REJECTION) <= ids
    assert len(ids) - len(_NOT_CONFIGURABLE) >= 60
