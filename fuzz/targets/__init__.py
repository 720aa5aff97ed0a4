"""One function per harness: `target(data: bytes) -> None`, raising `InvariantViolation` (or letting an
unexpected exception escape) when meshgate misbehaves. Importable without atheris: the regression replay in
tests/unit/hardening runs the very same functions.
"""

from __future__ import annotations

from collections.abc import Callable

from fuzz.targets.common import InvariantViolation

Target = Callable[[bytes], None]


def all_targets() -> dict[str, Target]:
    from fuzz.targets import policy, rpc, token, x509chain

    return {
        "token": token.target,
        "x509": x509chain.target,
        "policy": policy.target,
        "rpc": rpc.target,
    }


__all__ = ["InvariantViolation", "Target", "all_targets"]
