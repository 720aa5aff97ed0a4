"""`l5d-client-id` on the broker's HTTP port, as the pod's own Linkerd proxy delivers admin requests.

The proxy terminates the caller's mTLS and forwards over loopback with the verified identity in the
header; meshgate (enabled for it in the session config) accepts it only from a loopback peer.
"""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from devtools.broker import StandaloneBroker

pytestmark = pytest.mark.e2e

MESH = "serviceaccount.identity.linkerd.meshgate.test"
TENANT_ADMIN = f"admin.acme-admin.{MESH}"  # spiffe://meshgate.test/ns/acme-admin/sa/admin: admin of acme
READER = f"reader.payments.{MESH}"


def _get(broker: StandaloneBroker, path: str, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(broker.web_url + path, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode(errors="replace")


def test_tenant_admin_identity_from_the_mesh_header_may_list_namespaces(broker: StandaloneBroker) -> None:
    status, body = _get(broker, "/admin/v2/namespaces/acme", {"l5d-client-id": TENANT_ADMIN})
    assert status == 200, body
    assert "acme/payments" in body


def test_mesh_identity_without_admin_rights_is_refused(broker: StandaloneBroker) -> None:
    status, _ = _get(broker, "/admin/v2/namespaces/acme", {"l5d-client-id": READER})
    assert status in (401, 403)


@pytest.mark.parametrize(
    "headers",
    [{}, {"l5d-client-id": "not a linkerd name"}, {"l5d-client-id": f"admin.acme-admin.{MESH}.evil.example"}],
    ids=["no-header", "malformed", "foreign-suffix"],
)
def test_missing_or_bad_mesh_header_is_unauthenticated(
    broker: StandaloneBroker, headers: dict[str, str]
) -> None:
    status, _ = _get(broker, "/admin/v2/namespaces/acme", headers)
    assert status == 401
