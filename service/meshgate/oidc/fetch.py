"""HTTP fetching for the JWKS cache, behind a one-method `Fetcher` protocol.

Blocking, called from the cache's fetch threads. The default `UrllibFetcher` verifies TLS certificates,
refuses redirects, caps the body size, bounds each request by its timeout and reports
`Cache-Control: max-age`.
"""

from __future__ import annotations

import json
import re
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message
from typing import Protocol

from meshgate.config.fields import fetchable_url_problem

_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d{1,10})\"?\s*(?:,|$)", re.IGNORECASE)
_NO_CACHE = re.compile(r"(?:^|,)\s*(?:no-cache|no-store)\s*(?:,|$)", re.IGNORECASE)


class FetchError(Exception):
    """The document could not be fetched or is unusable; the cache keeps its last good keys."""


@dataclass(frozen=True, slots=True)
class FetchResult:
    body: bytes
    max_age: float | None = None  # from Cache-Control; 0 for no-cache/no-store


class Fetcher(Protocol):
    def fetch(self, url: str) -> FetchResult:
        """GET `url`; raise `FetchError` on any failure (status other than 200, timeout, too large)."""
        ...


def cache_max_age(cache_control: str | None) -> float | None:
    if not cache_control:
        return None
    if _NO_CACHE.search(cache_control):
        return 0.0
    match = _MAX_AGE.search(cache_control)
    return float(match.group(1)) if match else None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a 3xx becomes an HTTPError: key material is only taken from the configured URL


class UrllibFetcher:
    def __init__(
        self, *, timeout: float = 5.0, max_bytes: int = 65536, ssl_context: ssl.SSLContext | None = None
    ):
        self._timeout = timeout
        self._max_bytes = max_bytes
        context = ssl_context or ssl.create_default_context()
        self._opener = urllib.request.build_opener(
            _NoRedirect(), urllib.request.HTTPSHandler(context=context)
        )

    def fetch(self, url: str) -> FetchResult:
        problem = fetchable_url_problem(url)
        if problem:
            raise FetchError(f"{url}: {problem}")
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                status, headers = response.status, response.headers
                body = response.read(self._max_bytes + 1)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise FetchError(f"GET {url} failed: {exc}") from None
        return _result(url, status, headers, body, self._max_bytes)


def _result(url: str, status: int, headers: Message, body: bytes, max_bytes: int) -> FetchResult:
    if status != 200:
        raise FetchError(f"GET {url} returned HTTP {status}")
    if len(body) > max_bytes:
        raise FetchError(f"GET {url} returned more than {max_bytes} bytes")
    return FetchResult(body, cache_max_age(headers.get("Cache-Control")))


def resolve_jwks_url(fetcher: Fetcher, discovery_url: str, issuer: str) -> str:
    """Read `jwks_uri` from an OpenID discovery document whose `issuer` must equal ours exactly."""
    result = fetcher.fetch(discovery_url)
    try:
        doc = json.loads(result.body)
    except (ValueError, RecursionError):
        raise FetchError(f"{discovery_url}: discovery document is not JSON") from None
    if not isinstance(doc, dict) or doc.get("issuer") != issuer:
        raise FetchError(f"{discovery_url}: discovery issuer does not equal the configured issuer")
    jwks_uri = doc.get("jwks_uri")
    if not isinstance(jwks_uri, str) or fetchable_url_problem(jwks_uri):
        raise FetchError(f"{discovery_url}: jwks_uri is missing or not an https URL")
    return jwks_uri
