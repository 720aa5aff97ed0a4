"""Fill a running `meshgate serve`'s token cache with real tokens, through its Authenticate RPC.

- `mint_tokens`: distinct Kubernetes service-account tokens (EdDSA, signed with `cryptography` directly,
  in worker processes), one per service account `team-<i % 500>/client-<i>`, with `exp` spread over
  3,000 s from 10 minutes ahead (as tokens issued over time are; equal `exp` values share a datetime);
- `JwksServer`: their public key as a JWKS document on 127.0.0.1 (plain HTTP is allowed for loopback);
- `authenticate_all`: every token once through `Authenticate` over a few channels, several calls in flight
  on each; every answer must be the identity the token names.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from meshgate.v1 import meshgate_pb2 as pb
from meshgate.v1 import meshgate_pb2_grpc as pb_grpc

ISSUER = "https://kubernetes.default.svc"
KID = "bench-ed25519"
TRUST_DOMAIN = "cluster.local"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def principal(i: int) -> str:
    """The SPIFFE ID the service maps token `i`'s service account to."""
    return f"spiffe://{TRUST_DOMAIN}/ns/team-{i % 500}/sa/client-{i}"


def _mint_range(private: bytes, start: int, stop: int, now: int) -> list[str]:
    key = ed25519.Ed25519PrivateKey.from_private_bytes(private)
    header = _b64(json.dumps({"alg": "EdDSA", "kid": KID, "typ": "JWT"}, separators=(",", ":")).encode())
    tokens = []
    for i in range(start, stop):
        claims = {
            "iss": ISSUER,
            "sub": f"system:serviceaccount:team-{i % 500}:client-{i}",
            "aud": "pulsar",
            "iat": now,
            "exp": now + 600 + i % 3000,
        }
        signing_input = f"{header}.{_b64(json.dumps(claims, separators=(',', ':')).encode())}"
        tokens.append(f"{signing_input}.{_b64(key.sign(signing_input.encode()))}")
    return tokens


def new_signer() -> tuple[bytes, dict[str, Any]]:
    """A fresh Ed25519 key (raw private bytes, to hand to worker processes) and its JWKS document."""
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": _b64(public), "kid": KID, "alg": "EdDSA"}
    return private, {"keys": [jwk]}


def mint_tokens(private: bytes, count: int, processes: int | None = None) -> list[str]:
    """`count` distinct tokens signed with `private`; token i names `principal(i)`."""
    now = int(time.time())
    workers = processes or max(1, min(4, os.cpu_count() or 1))
    step = -(-count // workers)
    ranges = [(private, i, min(i + step, count), now) for i in range(0, count, step)]
    with ProcessPoolExecutor(workers) as pool:
        return [token for part in pool.map(_mint_range, *zip(*ranges, strict=True)) for token in part]


class JwksServer:
    """One JWKS document at `url`, served by a thread of this process until `close`."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        body = json.dumps(jwks).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                found = self.path == "/jwks"
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", "max-age=3600")
                self.end_headers()
                self.wfile.write(body if found else b"")

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/jwks"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def jwks_server(jwks: dict[str, Any]) -> Iterator[JwksServer]:
    server = JwksServer(jwks)
    try:
        yield server
    finally:
        server.close()


def issuer_config(jwks_url: str) -> dict[str, Any]:
    """The `oidc.issuers` entry that accepts the minted tokens."""
    return {
        "issuer": ISSUER,
        "jwks_url": jwks_url,
        "audiences": ["pulsar"],
        "algorithms": ["EdDSA"],
        "kind": "kubernetes",
        "trust_domain": TRUST_DOMAIN,
    }


def _send(target: str, tokens: list[str], first: int, stride: int, inflight: int, wrong: list[str]) -> None:
    """Tokens first, first + stride, ... over one channel, `inflight` calls at a time."""
    try:
        _send_on_channel(target, tokens, first, stride, inflight, wrong)
    except grpc.RpcError as error:
        wrong.append(f"channel {first}: {error}")


def _send_on_channel(
    target: str, tokens: list[str], first: int, stride: int, inflight: int, wrong: list[str]
) -> None:
    with grpc.insecure_channel(target) as channel:
        stub = pb_grpc.AuthenticationStub(channel)
        pending: list[tuple[int, Any]] = []
        for i in range(first, len(tokens), stride):
            request = pb.AuthenticateRequest(credential=pb.Credential(token=tokens[i]))
            pending.append((i, stub.Authenticate.future(request, timeout=60)))
            if len(pending) >= inflight:
                _check(pending.pop(0), wrong)
        for call in pending:
            _check(call, wrong)


def _check(call: tuple[int, Any], wrong: list[str]) -> None:
    i, future = call
    answer = future.result()
    if answer.WhichOneof("result") != "identity" or answer.identity.principal != principal(i):
        wrong.append(f"token {i}: {str(answer).strip()[:200]}")


def authenticate_all(target: str, tokens: list[str], channels: int = 4, inflight: int = 12) -> float:
    """Send every token once through `Authenticate`; the seconds it took. Raises unless every answer is
    the identity the token names. At most channels x inflight calls wait at once: fewer than the service's
    `grpc.queue_per_method` (64), which would refuse the rest."""
    wrong: list[str] = []
    began = time.monotonic()
    threads = [
        threading.Thread(target=_send, args=(target, tokens, n, channels, inflight, wrong))
        for n in range(channels)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if wrong:
        raise RuntimeError(f"{len(wrong)} of {len(tokens)} tokens not authenticated, e.g. {wrong[0]}")
    return time.monotonic() - began
