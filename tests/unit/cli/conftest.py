"""The policy folders the CLI tests read: the policy unit tests' own fixtures."""

from tests.unit.policy.conftest import examples, write_policy

__all__ = ["examples", "write_policy"]
