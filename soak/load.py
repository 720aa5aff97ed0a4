"""Load: a fixed mix of real requests, each with the answer it must get, sent over one grpc.aio channel.

`closed_loop` measures capacity (N callers back to back); `open_loop` holds a target rate, bounded in
concurrency, so a slow service shows up as lateness, not as a lower offered load.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import grpc
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from meshgate.v1 import meshgate_pb2 as pb
from meshgate.v1 import meshgate_pb2_grpc as pb_grpc

from devtools import pki as dev_pki

Call = Callable[[], Awaitable[bool]]  # True when the answer is the expected one


@dataclass
class Tally:
    ok: int = 0
    wrong: int = 0  # an answer other than the expected one
    errors: int = 0  # a non-OK status
    codes: dict[str, int] = field(default_factory=dict)

    def add(self, good: bool | None, code: str = "") -> None:
        if good is None:
            self.errors += 1
            self.codes[code] = self.codes.get(code, 0) + 1
        elif good:
            self.ok += 1
        else:
            self.wrong += 1

    @property
    def total(self) -> int:
        return self.ok + self.wrong + self.errors


def _chain(pki: dev_pki.DevPki, name: str) -> list[bytes]:
    certs = x509.load_pem_x509_certificates(pki.cert(name).read_bytes())
    return [c.public_bytes(Encoding.DER) for c in certs]


def request_mix(channel: grpc.aio.Channel, pki: dev_pki.DevPki) -> list[Call]:
    authz, authn = pb_grpc.AuthorizationStub(channel), pb_grpc.AuthenticationStub(channel)
    writer, reader = dev_pki.WORKLOADS["writer"], dev_pki.WORKLOADS["reader"]
    topic = pb.Resource(tenant="acme", namespace="acme/payments", topic="persistent://acme/payments/orders")
    chain = pb.Credential(certificate_chain=pb.CertificateChain(der=_chain(pki, "writer")))

    def decide(principal: str, action: str, allowed: bool, credential: pb.Credential | None = None) -> Call:
        request = pb.AuthorizeRequest(
            principal=principal, action=action, resource=topic, credential=credential
        )

        async def call() -> bool:
            answer = await authz.Authorize(request, timeout=5)
            return bool(answer.decision.allowed == allowed)

        return call

    async def authenticate() -> bool:
        answer = await authn.Authenticate(pb.AuthenticateRequest(credential=chain), timeout=5)
        return bool(answer.identity.principal == writer)

    return [
        decide(writer, "topic.produce", True),
        decide(writer, "topic.consume", False),
        decide(reader, "topic.consume", True),
        decide("spiffe://meshgate.test/ns/x/sa/stranger", "topic.produce", False),
        decide(writer, "topic.produce", True, chain),
        authenticate,
    ]


async def _one(call: Call, tally: Tally) -> None:
    try:
        tally.add(await call())
    except grpc.aio.AioRpcError as error:
        tally.add(None, error.code().name)


async def closed_loop(calls: list[Call], callers: int, seconds: float) -> tuple[Tally, float]:
    tally, stop_at = Tally(), time.monotonic() + seconds
    mix = itertools.cycle(calls)

    async def caller() -> None:
        while time.monotonic() < stop_at:
            await _one(next(mix), tally)

    started = time.monotonic()
    await asyncio.gather(*(caller() for _ in range(callers)))
    return tally, tally.total / (time.monotonic() - started)


async def open_loop(calls: list[Call], rate: float, seconds: float, tally: Tally, limit: int = 256) -> int:
    """One call every 1/rate s for `seconds`; returns how many were skipped as `limit` calls were busy."""
    mix, gate, skipped = itertools.cycle(calls), asyncio.Semaphore(limit), 0
    tasks: set[asyncio.Task[None]] = set()
    started, sent = time.monotonic(), 0
    while (now := time.monotonic()) - started < seconds:
        due = int((now - started) * rate)
        for _ in range(due - sent):
            if gate.locked():
                skipped += 1
                continue
            await gate.acquire()
            task = asyncio.create_task(_one(next(mix), tally))
            task.add_done_callback(lambda _t: gate.release())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        sent = due
        await asyncio.sleep(0.002)
    await asyncio.gather(*tasks)
    return skipped
