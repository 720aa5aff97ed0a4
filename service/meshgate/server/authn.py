"""Authentication facade: routes each kind of credential to the verifier made for it.

Synchronous, called from gRPC worker threads. Token validation may have to wait for a rate-limited JWKS
refetch on an unknown key id: `budget` is how long the caller can still wait (its remaining deadline).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from meshgate.errors import AuthenticationError
from meshgate.model import CredentialInput, Identity, PeerInfo


class ChainVerifier(Protocol):
    def verify(self, chain_der: Sequence[bytes]) -> Identity: ...


class TokenVerifier(Protocol):
    def authenticate(self, token: str, budget: float | None = None) -> Identity: ...


class MeshHeaderVerifier(Protocol):
    def authenticate(self, header_value: str, peer_address: str) -> Identity: ...


class Authenticator:
    def __init__(
        self,
        *,
        certificates: ChainVerifier | None = None,
        tokens: TokenVerifier | None = None,
        mesh_header: MeshHeaderVerifier | None = None,
    ) -> None:
        self._certificates = certificates
        self._tokens = tokens
        self._mesh_header = mesh_header

    def authenticate(
        self, credential: CredentialInput, peer: PeerInfo, budget: float | None = None
    ) -> Identity:
        if credential.cert_chain:
            return _required(self._certificates, "certificate").verify(credential.cert_chain)
        if credential.token:
            return _required(self._tokens, "token").authenticate(credential.token, budget)
        if credential.l5d_client_id:
            header = _required(self._mesh_header, "l5d-client-id")
            return header.authenticate(credential.l5d_client_id, peer.address)
        raise AuthenticationError("no credential presented", code="no_credential")


_V = TypeVar("_V")


def _required(verifier: _V | None, kind: str) -> _V:
    if verifier is None:
        raise AuthenticationError(
            f"{kind} credentials are not configured on this service", code="not_configured"
        )
    return verifier
