"""Checking an `Authenticate` answer over gRPC against a conformance case's expected outcome, one home for
the x509 and oidc conformance tables replayed against a real server."""

from __future__ import annotations

from meshgate.v1 import meshgate_pb2 as pb


def identity_or_rejection(response: pb.AuthenticateResponse, error: str | None) -> pb.Identity | None:
    """With an expected `error` code: assert a one-line rejection with that code and return None. Without:
    assert an identity and return it, for the caller's checks of its fields."""
    if error is not None:
        assert response.WhichOneof("result") == "rejection", response
        assert response.rejection.code == error, response.rejection.reason
        assert response.rejection.reason and "\n" not in response.rejection.reason
        return None
    assert response.WhichOneof("result") == "identity", response.rejection
    return response.identity
