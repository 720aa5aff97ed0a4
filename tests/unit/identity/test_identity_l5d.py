"""l5d-client-id is believed only when enabled and sent by a loopback peer (the pod's own Linkerd proxy)."""

from __future__ import annotations

import pytest
from meshgate.errors import AuthenticationError
from meshgate.identity import L5dClientIdAuthenticator
from meshgate.identity.l5d import is_loopback
from meshgate.model import CredentialKind
from meshgate.principal import LinkerdNaming

HEADER = "api.payments.serviceaccount.identity.linkerd.cluster.local"


@pytest.mark.parametrize(
    "peer",
    [
        "127.0.0.1",
        "127.0.0.1:4143",
        "127.1.2.3",
        "ipv4:127.0.0.1:50051",
        "::1",
        "[::1]:4143",
        "ipv6:%5B::1%5D:1",
    ],
)
def test_loopback_peers_are_accepted(peer: str) -> None:
    identity = L5dClientIdAuthenticator(True, LinkerdNaming()).authenticate(HEADER, peer)
    assert identity.principal == "spiffe://cluster.local/ns/payments/sa/api"
    assert identity.kind is CredentialKind.L5D_HEADER
    assert identity.issuer == "cluster.local"


@pytest.mark.parametrize(
    "peer", ["10.0.0.7", "10.0.0.7:4143", "[fe80::1]:80", "::ffff:10.0.0.1", "unix:/x", "", "localhost"]
)
def test_other_peers_are_not_loopback(peer: str) -> None:
    assert not is_loopback(peer)


def test_ipv4_mapped_loopback() -> None:
    assert is_loopback("::ffff:127.0.0.1")


REJECTIONS = [
    (False, HEADER, "127.0.0.1", "l5d_header_not_trusted", "l5d-client-id ignored: trusting it is disabled"),
    (
        True,
        HEADER,
        "10.0.0.7:4143",
        "l5d_header_not_loopback",
        "l5d-client-id ignored: peer '10.0.0.7:4143' is not loopback, so not the local Linkerd proxy",
    ),
    (
        True,
        "spiffe://cluster.local/ns/payments/sa/api",
        "127.0.0.1",
        "l5d_header_malformed",
        "l5d-client-id ignored: 'spiffe://cluster.local/ns/payments/sa/api' is not "
        "<sa>.<ns>.serviceaccount.identity.linkerd.cluster.local",
    ),
]


@pytest.mark.parametrize(("enabled", "header", "peer", "code", "message"), REJECTIONS)
def test_rejections(enabled: bool, header: str, peer: str, code: str, message: str) -> None:
    with pytest.raises(AuthenticationError) as caught:
        L5dClientIdAuthenticator(enabled, LinkerdNaming()).authenticate(header, peer)
    assert (caught.value.code, caught.value.message) == (code, f"identity: {message}")


def test_disabled_wins_even_from_loopback_and_custom_naming_applies() -> None:
    naming = LinkerdNaming("l5d", "mesh.example.com")
    header = naming.dns_name("payments", "api")
    identity = L5dClientIdAuthenticator(True, naming).authenticate(header, "127.0.0.1")
    assert identity.principal == "spiffe://mesh.example.com/ns/payments/sa/api"
    with pytest.raises(AuthenticationError):
        L5dClientIdAuthenticator(False, naming).authenticate(header, "127.0.0.1")
