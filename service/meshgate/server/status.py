"""The one place where errors become gRPC status codes.

Authentication rejections and denials are answers, not errors, so they never reach here; what does is a
request the service cannot answer (bad input, an internal failure) or a call the server's edge refuses
(a full queue, a passed deadline). The shim denies on every one of these.
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


class Refusal(Exception):
    """A status the server's edge decided itself (admission, the deadline check): answered as it is."""

    def __init__(self, code: grpc.StatusCode, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def status_for(error: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status code and detail for an error escaping a handler. Unknown errors are INTERNAL."""
    if isinstance(error, Refusal):
        return error.code, error.detail
    if isinstance(error, MeshgateError):
        for error_type, code in _STATUS_BY_ERROR:
            if isinstance(error, error_type):
                return code, str(error)
        return grpc.StatusCode.INTERNAL, str(error)
    # Never leak internals of unexpected failures to the caller; the log has the traceback.
    return grpc.StatusCode.INTERNAL, f"internal: {type(error).__name__}"


def outcome(context: grpc.ServicerContext, error: Exception) -> tuple[grpc.StatusCode, str | None]:
    """The status a call ends with when `error` escapes its handler, and the detail to answer with; the
    detail is None when the handler set the status itself (grpc's `abort`, or `set_code` before raising,
    as the generated base servicer does for an unimplemented method): that status stands."""
    if not isinstance(error, MeshgateError | Refusal):
        # grpcio's context has `code()`; grpc-stubs does not declare it, and stand-in contexts may lack it.
        code = getattr(context, "code", None)
        already: grpc.StatusCode | None = code() if callable(code) else None
        if already is not None:
            return already, None
    return status_for(error)
