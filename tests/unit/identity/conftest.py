"""Fixtures for the identity unit tests: a fixed clock and a tiny CA per test; no network."""

from __future__ import annotations

import pytest
from meshgate.clock import FixedClock

from devtools.devca import DevCA

from .helpers import NOW


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def ca() -> DevCA:
    return DevCA("example.org root", now=NOW, uri_sans=["spiffe://example.org"])
