"""Small helpers the OIDC integration tests share: run a coroutine, and the code a token is refused with."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any

import pytest
from meshgate.errors import AuthenticationError
from meshgate.oidc import TokenAuthenticator

NOW = datetime(2030, 1, 1, tzinfo=UTC)
T = int(NOW.timestamp())


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


async def refusal_code(auth: TokenAuthenticator, token: str) -> str:
    with pytest.raises(AuthenticationError) as info:
        await auth.authenticate(token)
    return info.value.code
