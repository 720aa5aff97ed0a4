"""The HTTP side's bounds against raw sockets (`meshgate.server.http`): header size, a slow or idle client,
connections at once, methods, a failing handler, keep-alive, and a stop that does not wait for idle clients.

Every wait is bounded; the tests that need the defaults (16 KiB of headers, 5 s per request head) use them,
the others shorten them in the config."""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import socket
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from tests.integration.ops_support import HttpSide

if TYPE_CHECKING:
    from tests.integration.conftest import StartMeshgate

pytestmark = pytest.mark.integration
WAIT = 10.0
OpenHttp = Callable[..., HttpSide]


@pytest.fixture
def open_http(start_meshgate: StartMeshgate) -> Iterator[OpenHttp]:
    """`open_http(**http_settings)`: the HTTP side of a fresh service; stopped when the test ends."""
    opened: list[HttpSide] = []

    def open_(**settings: Any) -> HttpSide:
        server = start_meshgate({"http": {"listen": "127.0.0.1:0", **settings}})
        opened.append(HttpSide(server))
        return opened[-1]

    yield open_
    for side in opened:
        side.stop()


def _connect(side: HttpSide) -> socket.socket:
    return socket.create_connection(("127.0.0.1", side.running.port), timeout=WAIT)


def _until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (bounded by the socket's timeout)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def _exchange(side: HttpSide, request: bytes) -> tuple[int, dict[str, str], bytes]:
    with _connect(side) as sock:
        sock.sendall(request)
        return _parse(_until_closed(sock))


def _parse(data: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def test_headers_over_the_limit_are_refused_with_431(open_http: OpenHttp) -> None:
    side = open_http()  # the default limit, 16 KiB
    big = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n"
    status, headers, body = _exchange(side, big)  # returns: the server closed the connection
    assert status == 431
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {
        "error": "request_header_fields_too_large",
        "detail": "longer than http.max_header_bytes (16384)",
    }
    assert _exchange(side, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")[0] == 200


def test_a_request_line_over_the_limit_is_refused_with_414(open_http: OpenHttp) -> None:
    side = open_http(max_header_bytes=2048)
    status, _, body = _exchange(side, b"GET /v1/who-can?action=" + b"a" * 4096 + b" HTTP/1.1\r\n\r\n")
    assert status == 414
    assert json.loads(body)["error"] == "request_uri_too_long"


def test_a_client_trickling_its_headers_is_dropped_after_the_timeout(open_http: OpenHttp) -> None:
    side = open_http()  # the default: 5 s for the whole request head, however often bytes arrive
    with _connect(side) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        started = time.monotonic()
        answer = _trickle_until_answered(sock)
        took = time.monotonic() - started
    assert 4.5 < took < 7.0, f"dropped after {took:.1f}s, not after http.timeout_seconds (5 s)"
    assert answer == b"" or _parse(answer)[0] == 408  # empty: the reset beat the 408 to our socket


def _trickle_until_answered(sock: socket.socket) -> bytes:
    """Send a byte every 0.25 s until the server answers or closes; what it sent."""
    sock.settimeout(0.25)
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        try:
            sock.sendall(b"a")
            data = sock.recv(65536)
        except TimeoutError:
            continue
        except OSError:  # reset: the server closed while bytes were on their way
            return b""
        sock.settimeout(WAIT)
        with contextlib.suppress(OSError):
            data += _until_closed(sock)
        return data
    raise AssertionError(f"still connected after {WAIT}s")


def test_an_idle_connection_is_closed_silently_after_the_timeout(open_http: OpenHttp) -> None:
    side = open_http(timeout_seconds=0.5)
    with _connect(side) as sock:
        started = time.monotonic()
        assert _until_closed(sock) == b""  # no 408 for a connection that never asked anything
        assert 0.4 < time.monotonic() - started < 3.0


def test_unknown_methods_are_405_and_unknown_paths_404(open_http: OpenHttp) -> None:
    side = open_http()
    for method in ("POST", "DELETE", "OPTIONS", "BREW"):
        request = f"{method} /metrics HTTP/1.1\r\nConnection: close\r\n\r\n".encode()
        status, headers, body = _exchange(side, request)
        assert (status, headers["allow"], body) == (405, "GET, HEAD", b"Method Not Allowed"), method
    assert _exchange(side, b"GET /nope HTTP/1.1\r\nConnection: close\r\n\r\n")[::2] == (404, b"Not Found")
    assert _exchange(side, b"GET /readyz HTTP/2.0\r\n\r\n")[0] == 505
    assert _exchange(side, b"nonsense\r\n\r\n")[0] == 400


def test_connections_beyond_the_limit_are_refused_with_503(open_http: OpenHttp) -> None:
    side = open_http(max_connections=2, timeout_seconds=WAIT)
    held = [_connect(side) for _ in range(2)]
    try:
        refused = _wait_for(lambda: _answer_or_none(side, b"GET /healthz HTTP/1.1\r\n\r\n"), 503)
        assert json.loads(refused[2]) == {
            "error": "service_unavailable",
            "detail": "all 2 connections (http.max_connections) are busy",
        }
    finally:
        for sock in held:
            sock.close()
    _wait_for(lambda: _answer_or_none(side, b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n"), 200)


def _answer_or_none(side: HttpSide, request: bytes) -> tuple[int, dict[str, str], bytes] | None:
    try:
        return _exchange(side, request)
    except OSError:  # a refused connection may be reset before its answer is read
        return None


def test_a_failing_handler_is_answered_500_and_logged_once(
    start_meshgate: StartMeshgate, caplog: pytest.LogCaptureFixture
) -> None:
    server = start_meshgate({"http": {"listen": "127.0.0.1:0"}})

    def broken() -> Any:
        raise RuntimeError("readiness exploded")

    server.components.readiness = broken  # type: ignore[method-assign]
    side = HttpSide(server)
    try:
        with caplog.at_level(logging.DEBUG, logger="meshgate.server.http"):
            answer = side.client.get("/readyz")
            assert side.client.get("/healthz").status_code == 200  # the connection and server live on
    finally:
        side.stop()
    assert answer.status_code == 500
    assert answer.json() == {
        "error": "internal",
        "detail": "the request failed inside meshgate; the service log says why",
    }
    (record,) = [r for r in caplog.records if r.name == "meshgate.server.http"]
    assert record.levelno == logging.ERROR and record.getMessage() == "HTTP GET /readyz failed"
    assert record.exc_info is not None and "readiness exploded" in str(record.exc_info[1])


def test_keep_alive_head_and_a_body_that_closes(open_http: OpenHttp) -> None:
    side = open_http()
    connection = http.client.HTTPConnection("127.0.0.1", side.running.port, timeout=WAIT)
    try:
        connection.request("GET", "/healthz")
        first = connection.getresponse()
        assert (first.status, first.read(), first.getheader("Connection")) == (200, b"ok\n", None)
        sock = connection.sock
        connection.request("HEAD", "/readyz")
        head = connection.getresponse()
        assert (head.status, head.read()) == (200, b"")
        assert int(head.getheader("Content-Length") or 0) > 0  # the GET's length, without the body
        assert connection.sock is sock  # the same connection throughout
        connection.request("GET", "/healthz", body=b"unexpected")
        with_body = connection.getresponse()
        assert (with_body.status, with_body.getheader("Connection")) == (200, "close")  # body left unread
    finally:
        connection.close()


def test_stop_does_not_wait_for_an_idle_keep_alive_connection(open_http: OpenHttp) -> None:
    side = open_http(timeout_seconds=60)
    connection = http.client.HTTPConnection("127.0.0.1", side.running.port, timeout=WAIT)
    try:
        connection.request("GET", "/healthz")
        assert connection.getresponse().read() == b"ok\n"  # the connection stays open, idle
        started = time.monotonic()
        side.running.stop()
        assert time.monotonic() - started < 2.0  # the accept loop's poll (0.5 s), not the 60 s timeout
        assert connection.sock is not None and connection.sock.recv(1) == b""  # closed by the server
    finally:
        connection.close()


def _wait_for(
    answer: Callable[[], tuple[int, dict[str, str], bytes] | None], status: int
) -> tuple[int, dict[str, str], bytes]:
    deadline = time.monotonic() + WAIT
    while (got := answer()) is None or got[0] != status:
        assert time.monotonic() < deadline, f"no {status} in {WAIT}s; last: {got}"
        time.sleep(0.05)
    return got
