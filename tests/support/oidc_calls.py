"""Small helpers the OIDC integration tests share: the code a token is refused with."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from meshgate.errors import AuthenticationError
from meshgate.oidc import TokenAuthenticator

NOW = datetime(2030, 1, 1, tzinfo=UTC)
T = int(NOW.timestamp())


def refusal_code(auth: TokenAuthenticator, token: str) -> str:
    with pytest.raises(AuthenticationError) as info:
        auth.authenticate(token)
    return info.value.code
