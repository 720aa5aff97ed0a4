"""The HTTP side: /healthz, /readyz, /metrics and the read-only /v1/explain and /v1/who-can.

Threads, like the rest of the service: `socketserver` accepts on a thread of its own, `http.server` reads
each request line and headers, and each connection is served on a thread of its own, at most
`http.max_connections` at once (one more is answered 503 and closed). Bounds, from the `http` config:

* a connection has `timeout_seconds` to send each request's line and headers, counted from when it opened
  or got its previous answer (so an idle keep-alive connection is closed after it too, silently; a
  partial request is answered 408), and as long to take each answer;
* request line plus headers at most `max_header_bytes` (414 for the line, 431 for headers), at most 100
  header lines;
* no endpoint takes a body: a request that announces one is answered and its connection closed.

GET and HEAD only; an unknown path is 404, another method on a known path 405 (plain text, as before).
Other errors are problem JSON (`{"error": code, "detail": why}`); a handler that fails is logged once,
with its traceback, and answered 500. There is no access log.

Nothing here changes state; explain and who-can answer from the policy snapshot serving now and are
not audited as decisions (nothing is enforced by them).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from meshgate.errors import ConfigError, MeshgateError
from meshgate.model import AccessRequest
from meshgate.policy import PolicyStore
from meshgate.policy.explain import explain_decision
from meshgate.policy.resources import parse_resource
from meshgate.server.admission import WARN_EVERY_SECONDS
from meshgate.server.config import HttpConfig
from meshgate.server.readiness import Readiness
from meshgate.server.wire import decision_json, grantee_json

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

log = logging.getLogger(__name__)
JSON = "application/json"
TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class HttpDeps:
    readiness: Callable[[], Readiness]
    registry: CollectorRegistry
    policies: PolicyStore
    policy_endpoints: bool = True


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    content_type: str = JSON
    headers: tuple[tuple[str, str], ...] = ()


Params = Mapping[str, str]
Route = Callable[[Params], Response]


def json_response(content: object, status: int = 200) -> Response:
    """Compact UTF-8 JSON, as the Starlette app before answered."""
    text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return Response(status, text.encode())


def problem(status: int, detail: str, code: str = "") -> Response:
    return json_response({"error": code or HTTPStatus(status).name.lower(), "detail": detail}, status)


NOT_FOUND = Response(404, b"Not Found", TEXT)
NOT_ALLOWED = Response(405, b"Method Not Allowed", TEXT, (("Allow", "GET, HEAD"),))
INTERNAL = problem(500, "the request failed inside meshgate; the service log says why", "internal")


def _required(params: Params, *names: str) -> dict[str, str] | Response:
    values = {name: params.get(name, "") for name in (*names, "subscription")}
    missing = [name for name in names if not values[name]]
    if missing:
        return problem(400, f"missing query parameter(s): {', '.join(missing)}")
    return values


def _refusal(err: MeshgateError) -> Response:
    return problem(503 if err.code == "policy_unavailable" else 400, err.message, err.code)


def build_routes(deps: HttpDeps) -> dict[str, Route]:
    def readyz(_: Params) -> Response:
        readiness = deps.readiness()
        return json_response(readiness.as_json(), 200 if readiness.ready else 503)

    def metrics(_: Params) -> Response:
        return Response(200, generate_latest(deps.registry), CONTENT_TYPE_LATEST)

    def explain(params: Params) -> Response:
        values = _required(params, "principal", "action", "resource")
        if isinstance(values, Response):
            return values
        try:
            resource = parse_resource(values["resource"])
            access = AccessRequest(values["principal"], values["action"], resource, values["subscription"])
            snapshot = deps.policies.current()
            return json_response(decision_json(explain_decision(snapshot, access), snapshot.commit))
        except MeshgateError as err:
            return _refusal(err)

    def who_can(params: Params) -> Response:
        values = _required(params, "action", "resource")
        if isinstance(values, Response):
            return values
        try:
            snapshot = deps.policies.current()
            found = snapshot.who_can(values["action"], values["resource"], values["subscription"])
        except MeshgateError as err:
            return _refusal(err)
        grantees = [grantee_json(g) for g in found]
        return json_response({"revision": snapshot.revision, "commit": snapshot.commit, "grantees": grantees})

    routes: dict[str, Route] = {
        "/healthz": lambda _: Response(200, b"ok\n", TEXT),
        "/readyz": readyz,
        "/metrics": metrics,
    }
    if deps.policy_endpoints:
        routes |= {"/v1/explain": explain, "/v1/who-can": who_can}
    return routes


def encode(response: Response, *, close: bool, head_only: bool = False) -> bytes:
    status = HTTPStatus(response.status)
    lines = [
        f"HTTP/1.1 {status.value} {status.phrase}",
        f"Date: {formatdate(usegmt=True)}",
        f"Content-Type: {response.content_type}",
        f"Content-Length: {len(response.body)}",
        *(f"{name}: {value}" for name, value in response.headers),
        *(["Connection: close"] if close else []),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (b"" if head_only else response.body)


class _HeadTooLarge(Exception):
    pass


class _HeadReader(io.RawIOBase):
    """The connection's reads for one request head: all by one deadline, at most a byte budget."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.deadline, self.left, self.received = math.inf, 0, 0

    def begin(self, config: HttpConfig) -> None:
        self.deadline = time.monotonic() + config.timeout_seconds
        self.left, self.received = config.max_header_bytes, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        if self.left <= 0:
            raise _HeadTooLarge
        wait = self.deadline - time.monotonic()
        if wait <= 0:
            raise TimeoutError("the request head did not arrive in time")
        self._sock.settimeout(wait)
        with memoryview(buffer) as view:
            count = self._sock.recv_into(view[: self.left])
        self.left -= count
        self.received += count
        return count


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.rfile.close()
        self._head = _HeadReader(self.connection)
        self.rfile = io.BufferedReader(self._head)

    def handle(self) -> None:
        while self.server.waiting(self.connection):
            self.close_connection = True
            with contextlib.suppress(OSError):  # reset, timed out, or shut down by `stop`: just close
                self.handle_one_request()
            if self.close_connection:
                return

    def handle_one_request(self) -> None:
        self._head.begin(self.server.config)
        self.command, self.request_version, line = "", self.default_request_version, b""  # not the last one's
        try:
            line = self.raw_requestline = self.rfile.readline(65537)
            if not line or not self.parse_request():  # the peer closed, or refused below (`send_error`)
                return
        except _HeadTooLarge:
            status = 431 if line.endswith(b"\n") else 414
            limit = self.server.config.max_header_bytes
            self._answer(problem(status, f"longer than http.max_header_bytes ({limit})"), close=True)
            return
        except TimeoutError:
            if self._head.received:  # an idle keep-alive connection is closed without a word
                self._answer(
                    problem(408, "the request did not arrive within http.timeout_seconds"), close=True
                )
            return
        self.server.working(self.connection)
        self._answer(self._route())

    def _route(self) -> Response:
        if self.headers.get("Content-Length", "0") != "0" or "Transfer-Encoding" in self.headers:
            self.close_connection = True  # its body stays unread
        try:
            target = urlsplit(self.path)
        except ValueError as err:
            return problem(400, f"bad request target: {err}")
        route = self.server.routes.get(unquote(target.path))
        if route is None:
            return NOT_FOUND
        if self.command not in ("GET", "HEAD"):
            return NOT_ALLOWED
        try:
            return route(dict(parse_qsl(target.query, keep_blank_values=True)))
        except Exception:
            log.exception("HTTP %s %s failed", self.command, target.path)
            return INTERNAL

    def _answer(self, response: Response, *, close: bool = False) -> None:
        if close or self.request_version != "HTTP/1.1":
            self.close_connection = True
        data = encode(response, close=self.close_connection, head_only=self.command == "HEAD")
        self.connection.settimeout(self.server.config.timeout_seconds)  # bounds all of `sendall`
        self.connection.sendall(data)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """`parse_request`'s refusals (400, 431, 505), as problem JSON."""
        why = ": ".join(text for text in (message or HTTPStatus(code).phrase, explain) if text)
        self._answer(problem(code, why), close=True)

    def handle_expect_100(self) -> bool:
        return True  # no endpoint reads a body: the final answer comes at once instead of 100 Continue

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("HTTP %s: " + format, self.address_string(), *args)


class _Server(socketserver.TCPServer):
    """Accepts on the `serve_forever` thread and serves each connection on a thread of its own."""

    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        family: socket.AddressFamily,
        routes: Mapping[str, Route],
        config: HttpConfig,
    ) -> None:
        self.address_family = family
        self.routes, self.config, self.stopping = routes, config, False
        self._slots = threading.BoundedSemaphore(config.max_connections)
        self._lock = threading.Lock()
        self._idle: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self._refused, self._warned_at = 0, -math.inf
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if self.stopping or not self._slots.acquire(blocking=False):
            self._refuse(request)
            return
        thread = threading.Thread(
            target=self._connection, args=(request, client_address), name="meshgate-http-conn", daemon=True
        )
        with self._lock:
            self._threads.add(thread)
        thread.start()

    def _connection(self, request: socket.socket, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:  # a fault of this module: what a route raises is answered 500 in `_route`
            log.exception("HTTP connection from %s failed", client_address)
        finally:
            self.shutdown_request(request)
            with self._lock:
                self._idle.discard(request)
                self._threads.discard(threading.current_thread())
            self._slots.release()

    def waiting(self, connection: socket.socket) -> bool:
        """A connection is about to wait for its next request; False once stopping (it closes instead)."""
        with self._lock:
            if not self.stopping:
                self._idle.add(connection)
            return not self.stopping

    def working(self, connection: socket.socket) -> None:
        with self._lock:
            self._idle.discard(connection)

    def _refuse(self, request: socket.socket) -> None:
        busy = problem(503, f"all {self.config.max_connections} connections (http.max_connections) are busy")
        with contextlib.suppress(OSError):
            request.setblocking(False)
            request.send(encode(busy, close=True))
            request.recv(self.config.max_header_bytes)  # what it sent already, so closing sends no reset
        self.shutdown_request(request)
        now = time.monotonic()
        with self._lock:
            self._refused += 1
            if self.stopping or now - self._warned_at < WARN_EVERY_SECONDS:
                return
            refused, self._refused, self._warned_at = self._refused, 0, now
        log.warning(
            "HTTP: %d connections refused since the last warning: all %d (http.max_connections) were open",
            refused, self.config.max_connections,
        )  # fmt: skip

    def stop(self) -> None:
        """Refuse new connections, close the idle ones, let each answer in progress finish (bounded by
        `timeout_seconds`), then return."""
        with self._lock:
            self.stopping = True
            idle = list(self._idle)
        for connection in idle:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self.shutdown()  # the accept loop ends within its poll interval (0.5 s)
        self.server_close()
        deadline = time.monotonic() + self.config.timeout_seconds
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))


@dataclass
class RunningHttp:
    server: _Server
    thread: threading.Thread
    port: int

    def stop(self) -> None:
        self.server.stop()
        self.thread.join(self.server.config.timeout_seconds)


def start_http(config: HttpConfig, routes: Mapping[str, Route]) -> RunningHttp:
    """Bind `config.listen` (`host:port`, port 0 picks a free one) and serve on threads until `stop()`."""
    host, _, port = config.listen.rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        server = _Server((host, int(port)), family, routes, config)
    except OSError as err:
        raise ConfigError(
            f"http.listen: cannot listen on {config.listen}: {err.strerror or err} (another meshgate "
            "serve?); stop the other process or choose another address"
        ) from err
    thread = threading.Thread(target=server.serve_forever, name="meshgate-http", daemon=True)
    thread.start()
    return RunningHttp(server, thread, server.server_address[1])
