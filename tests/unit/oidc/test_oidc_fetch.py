"""Fetch helpers that need no network: Cache-Control parsing, URL policy, response checks."""

from __future__ import annotations

from email.message import Message

import pytest
from meshgate.oidc import FetchError, UrllibFetcher
from meshgate.oidc.fetch import _result, cache_max_age


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("max-age=300", 300.0),
        ("public, max-age=60, must-revalidate", 60.0),
        ('MAX-AGE="120"', 120.0),
        ("s-maxage=10", None),
        ("no-store", 0.0),
        ("private, no-cache", 0.0),
        ("max-age=abc", None),
    ],
)
def test_cache_max_age(header: str | None, expected: float | None) -> None:
    assert cache_max_age(header) == expected


@pytest.mark.parametrize("url", ["http://idp.example/jwks", "file:///etc/passwd", "https://u:p@idp/jwks"])
def test_fetcher_refuses_urls_before_any_io(url: str) -> None:
    with pytest.raises(FetchError):
        UrllibFetcher().fetch(url)


def test_result_checks_status_and_size() -> None:
    headers = Message()
    headers["Cache-Control"] = "max-age=42"
    assert _result("u", 200, headers, b"{}", 10).max_age == 42.0
    with pytest.raises(FetchError):
        _result("u", 204, headers, b"", 10)
    with pytest.raises(FetchError):
        _result("u", 200, headers, b"x" * 11, 10)
