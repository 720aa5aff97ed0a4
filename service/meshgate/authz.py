"""Authorization facade: the current policy snapshot decides; nothing here may turn an error into an allow."""

from __future__ import annotations

from typing import Protocol

from meshgate.model import AccessRequest, Decision


class PolicySnapshotLike(Protocol):
    @property
    def revision(self) -> str: ...
    @property
    def commit(self) -> str: ...

    def decide(self, request: AccessRequest) -> Decision: ...


class PolicySource(Protocol):
    def current(self) -> PolicySnapshotLike: ...


class Authorizer:
    def __init__(self, policies: PolicySource) -> None:
        self._policies = policies

    def decide(self, request: AccessRequest) -> Decision:
        return self._policies.current().decide(request)

    def snapshot(self) -> PolicySnapshotLike:
        """The active snapshot, for a caller that decides several requests against one revision."""
        return self._policies.current()

    @property
    def revision(self) -> str:
        return self._policies.current().revision
