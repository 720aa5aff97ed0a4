"""Error hierarchy. Every error carries a short, stable, machine-readable code.

The codes appear in logs, metrics, audit records, the CLI and the gRPC response, so they never change
once released. Transport adapters map these classes to gRPC status in exactly one place
(`meshgate.server.status`).
"""

from __future__ import annotations


class MeshgateError(Exception):
    """Base of every error meshgate raises on purpose."""

    code: str = "internal"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class AuthenticationError(MeshgateError):
    """The credential did not prove an identity. `code` says why (e.g. `untrusted_chain`, `expired`)."""

    code = "unauthenticated"


class PolicyError(MeshgateError):
    """A policy file or folder is invalid. The message names file:line."""

    code = "policy_invalid"


class ConfigError(MeshgateError):
    """A configuration value is missing or invalid. The message names the key."""

    code = "config_invalid"


class BadRequestError(MeshgateError):
    """A request is malformed (unknown action, missing field)."""

    code = "bad_request"


class OverloadedError(MeshgateError):
    """The service refuses more of this kind of work right now (e.g. every WatchRevision slot is taken)."""

    code = "overloaded"
