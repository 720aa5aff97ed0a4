"""The one place where domain errors become gRPC status codes.

Authentication rejections and denials are answers, not errors, so they never reach here; what does is a
request the service cannot answer (bad input, an internal failure). The shim denies on every one of these.
"""

from __future__ import annotations

import grpc

from meshgate.errors import BadRequestError, ConfigError, MeshgateError, OverloadedError, PolicyError

_STATUS_BY_ERROR: tuple[tuple[type[MeshgateError], grpc.StatusCode], ...] = (
    (BadRequestError, grpc.StatusCode.INVALID_ARGUMENT),
    (PolicyError, grpc.StatusCode.FAILED_PRECONDITION),
    (ConfigError, grpc.StatusCode.FAILED_PRECONDITION),
    (OverloadedError, grpc.StatusCode.RESOURCE_EXHAUSTED),
)


def status_for(error: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status code and detail for an error escaping a handler. Unknown errors are INTERNAL."""
    if isinstance(error, MeshgateError):
        for error_type, code in _STATUS_BY_ERROR:
            if isinstance(error, error_type):
                return code, str(error)
        return grpc.StatusCode.INTERNAL, str(error)
    # Never leak internals of unexpected failures to the caller; the log has the traceback.
    return grpc.StatusCode.INTERNAL, f"internal: {type(error).__name__}"
