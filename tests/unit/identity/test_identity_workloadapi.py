"""Trust bundles from the SPIFFE Workload API: updates, federation, reconnects (fake agent)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from cryptography import x509
from meshgate.clock import FixedClock
from meshgate.identity.workloadapi import WorkloadApiClientLike, X509ContextLike
from meshgate.identity.workloadbundles import NOT_YET, WorkloadApiTrustBundles, bundles_of
from spiffe import TrustDomain, X509Bundle, X509BundleSet

from devtools.devca import DevCA

from .helpers import NOW


@dataclass
class Context:
    x509_bundle_set: X509BundleSet


def context(**bundles: list[x509.Certificate]) -> Context:
    """`context(example_org=[ca])`: underscores stand for dots in the trust domain names."""
    return Context(
        X509BundleSet.of(
            [X509Bundle(TrustDomain(td.replace("_", ".")), set(cas)) for td, cas in bundles.items()]
        )
    )


@dataclass
class Handle:
    cancelled: threading.Event = field(default_factory=threading.Event)

    def cancel(self) -> None:
        self.cancelled.set()


@dataclass
class FakeAgent:
    """Hands out clients; the test pushes updates and errors into the open stream."""

    reachable: bool = True
    connects: int = 0
    opened: threading.Event = field(default_factory=threading.Event)
    on_success: Callable[[X509ContextLike], None] | None = None
    on_error: Callable[[Exception], None] | None = None

    def connect(self) -> WorkloadApiClientLike:
        self.connects += 1
        if not self.reachable:
            raise ValueError('SPIFFE socket file "/run/agent.sock" does not exist.')
        return Client(self)

    def push(self, ctx: Context) -> None:
        assert self.on_success is not None
        self.on_success(ctx)

    def break_stream(self, reason: str) -> None:
        assert self.on_error is not None
        self.opened.clear()
        self.on_error(RuntimeError(reason))


@dataclass
class Client:
    agent: FakeAgent

    def stream_x509_contexts(
        self,
        on_success: Callable[[X509ContextLike], None],
        on_error: Callable[[Exception], None],
        retry_connect: bool = True,
    ) -> Handle:
        assert retry_connect is False  # meshgate reconnects itself, so it sees every break
        self.agent.on_success, self.agent.on_error = on_success, on_error
        self.agent.opened.set()
        return Handle()

    def close(self) -> None:
        pass


@pytest.fixture
def other() -> DevCA:
    return DevCA("other.test root", now=NOW, uri_sans=["spiffe://other.test"])


def test_not_ready_until_the_first_update(clock: FixedClock, ca: DevCA) -> None:
    source = WorkloadApiTrustBundles(FakeAgent().connect, clock=clock)
    assert source.status.last_error == NOT_YET
    assert source.x509_authorities("example.org") == ()
    status = source.update(bundles_of(context(example_org=[ca.cert])))
    assert status.last_error is None and status.changed and status.last_success == NOW
    assert list(source.x509_authorities("example.org")) == [ca.cert]


def test_federated_bundles_arrive_and_leave_with_the_update(
    clock: FixedClock, ca: DevCA, other: DevCA
) -> None:
    source = WorkloadApiTrustBundles(FakeAgent().connect, clock=clock)
    source.update(bundles_of(context(example_org=[ca.cert], other_test=[other.cert])))
    assert source.trust_domains() == ("example.org", "other.test")
    source.update(bundles_of(context(example_org=[ca.cert])))  # the federation was removed at the server
    assert source.x509_authorities("other.test") == ()


def test_same_bundles_do_not_bump_the_generation(clock: FixedClock, ca: DevCA) -> None:
    source = WorkloadApiTrustBundles(FakeAgent().connect, clock=clock)
    source.update(bundles_of(context(example_org=[ca.cert])))
    status = source.update(bundles_of(context(example_org=[ca.cert])))  # an SVID rotation, same CAs
    assert (status.changed, status.generation) == (False, 1)


def test_ca_rotation_adds_then_drops_the_old_ca(clock: FixedClock, ca: DevCA) -> None:
    new = DevCA("example.org next", now=NOW, uri_sans=["spiffe://example.org"])
    source = WorkloadApiTrustBundles(FakeAgent().connect, clock=clock)
    source.update(bundles_of(context(example_org=[ca.cert])))
    source.update(bundles_of(context(example_org=[ca.cert, new.cert])))
    assert set(source.x509_authorities("example.org")) == {ca.cert, new.cert}
    source.update(bundles_of(context(example_org=[new.cert])))
    assert list(source.x509_authorities("example.org")) == [new.cert]
    assert source.generation == 3


def test_an_empty_update_keeps_the_last_good(clock: FixedClock, ca: DevCA) -> None:
    source = WorkloadApiTrustBundles(FakeAgent().connect, clock=clock)
    source.update(bundles_of(context(example_org=[ca.cert])))
    status = source.update({})
    assert status.last_error == (
        "the Workload API sent an update without any trust bundle; kept the last good bundles"
    )
    assert list(source.x509_authorities("example.org")) == [ca.cert]


def test_stream_break_keeps_bundles_reports_and_reconnects(clock: FixedClock, ca: DevCA) -> None:
    agent = FakeAgent()
    source = WorkloadApiTrustBundles(agent.connect, clock=clock, backoff_seconds=(0.01, 0.05))
    source.start()
    try:
        assert agent.opened.wait(5)
        agent.push(context(example_org=[ca.cert]))
        assert source.wait_first(5)
        clock.advance(30)
        agent.break_stream("gRPC error: StatusCode.UNAVAILABLE")
        assert source.status.last_error == (
            "SPIFFE Workload API stream failed: gRPC error: StatusCode.UNAVAILABLE; "
            "kept the last good bundles"
        )
        assert source.status.last_success == NOW  # the age metric grows from here
        assert list(source.x509_authorities("example.org")) == [ca.cert]
        assert agent.opened.wait(5)  # reconnected by itself
        agent.push(context(example_org=[ca.cert]))
        assert source.status.last_error is None
    finally:
        source.stop()
    assert agent.connects == 2


def test_unreachable_agent_is_retried_with_a_clear_error(clock: FixedClock, ca: DevCA) -> None:
    agent = FakeAgent(reachable=False)
    source = WorkloadApiTrustBundles(agent.connect, clock=clock, backoff_seconds=(0.01, 0.02))
    source.start()
    try:
        assert not source.wait_first(0.1)
        assert source.status.last_error == (
            'cannot reach the SPIFFE Workload API: SPIFFE socket file "/run/agent.sock" does not exist.'
        )
        agent.reachable = True
        assert agent.opened.wait(5)
        agent.push(context(example_org=[ca.cert]))
        assert source.wait_first(5)
    finally:
        source.stop()
    assert agent.connects >= 2


def test_permission_denied_says_to_register_meshgate(clock: FixedClock) -> None:
    agent = FakeAgent()
    source = WorkloadApiTrustBundles(agent.connect, clock=clock, backoff_seconds=(5, 5))
    source.start()
    try:
        assert agent.opened.wait(5)
        agent.break_stream("gRPC error: StatusCode.PERMISSION_DENIED")
        assert "create a registration entry whose selectors match the meshgate process" in str(
            source.status.last_error
        )
    finally:
        source.stop()
