"""`l5d-client-id`: the caller identity the local Linkerd proxy adds to meshed HTTP requests.

Only the proxy in the same pod can vouch for it, and it reaches the application over loopback; the header from
anywhere else is a string any client can write. So it is accepted only when enabled and the peer is loopback.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import unquote

from meshgate.identity.codes import IdentityCode, fail
from meshgate.model import CredentialKind, Identity
from meshgate.principal.linkerd import LinkerdNaming

HEADER = "l5d-client-id"


class L5dClientIdAuthenticator:
    def __init__(self, enabled: bool, linkerd: LinkerdNaming) -> None:
        self._enabled = enabled
        self._linkerd = linkerd

    def authenticate(self, header_value: str, peer_address: str) -> Identity:
        """The identity in `l5d-client-id`; `peer_address` is the TCP peer, e.g. "127.0.0.1:4000"."""
        if not self._enabled:
            fail(IdentityCode.L5D_HEADER_NOT_TRUSTED, f"{HEADER} ignored: trusting it is disabled")
        if not is_loopback(peer_address):
            fail(
                IdentityCode.L5D_HEADER_NOT_LOOPBACK,
                f"{HEADER} ignored: peer {peer_address!r} is not loopback, so not the local Linkerd proxy",
            )
        spiffe_id = self._linkerd.to_spiffe(header_value.strip())
        if spiffe_id is None:
            fail(
                IdentityCode.L5D_HEADER_MALFORMED,
                f"{HEADER} ignored: {header_value[:256]!r} is not <sa>.<ns>{self._linkerd.suffix}",
            )
        return Identity(str(spiffe_id), CredentialKind.L5D_HEADER, issuer=spiffe_id.trust_domain)


def is_loopback(peer_address: str) -> bool:
    """True for 127.0.0.0/8 and ::1 (also IPv4-mapped), with or without a port, in plain or gRPC peer form."""
    host = _host(peer_address)
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def _host(peer: str) -> str:
    peer = unquote(peer)  # grpc's peer() percent-encodes brackets: "ipv6:%5B::1%5D:4000"
    for prefix in ("ipv4:", "ipv6:"):
        peer = peer.removeprefix(prefix)
    if peer.startswith("["):  # [::1]:port
        return peer[1 : peer.find("]")] if "]" in peer else peer
    if peer.count(":") == 1:  # 127.0.0.1:port
        return peer.split(":", 1)[0]
    return peer
