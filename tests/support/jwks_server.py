"""A real HTTP server on 127.0.0.1 (port 0, own thread) serving JSON documents for JWKS/discovery tests.

Tests control it at run time: `set(path, doc)` (rotation), `set(path, None)` (HTTP 503 outage), `max_age`
(Cache-Control), `redirect(path, to)`, and `hits(path)` counts requests. `jwks_server()` is the context
manager; the server stops when it exits.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class JwksServer:
    def __init__(self, server: ThreadingHTTPServer) -> None:
        self._server = server
        self._lock = threading.Lock()
        self._docs: dict[str, bytes | None] = {}
        self._redirects: dict[str, str] = {}
        self._hits: Counter[str] = Counter()
        self.max_age: int | None = 300

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def set(self, path: str, document: dict[str, Any] | bytes | None) -> None:
        """Serve `document` at `path`; None answers HTTP 503 (outage)."""
        body = document if isinstance(document, bytes | None) else json.dumps(document).encode()
        with self._lock:
            self._docs[path] = body

    def redirect(self, path: str, to: str) -> None:
        with self._lock:
            self._redirects[path] = to

    def hits(self, path: str) -> int:
        with self._lock:
            return self._hits[path]

    def respond(self, path: str) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self._hits[path] += 1
            if path in self._redirects:
                return 302, {"Location": self._redirects[path]}, b""
            if path not in self._docs:
                return 404, {}, b"not found"
            body = self._docs[path]
        if body is None:
            return 503, {"Retry-After": "1"}, b"unavailable"
        headers = {"Content-Type": "application/json"}
        if self.max_age is not None:
            headers["Cache-Control"] = f"public, max-age={self.max_age}"
        return 200, headers, body


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        status, headers, body = self.server.owner.respond(self.path)
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: JwksServer


@contextmanager
def jwks_server() -> Iterator[JwksServer]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.owner = JwksServer(server)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.owner
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
