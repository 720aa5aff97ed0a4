"""The per-revision decision memo: a policy swap never serves an old answer (the table is bound to the
snapshot object, with or without `forget`), errors and bad items are never stored, claims are part of
the key, the key covers every field the policy may read, the table is bounded (LRU), and worker threads
can share one memo."""

from __future__ import annotations

import dataclasses
import threading
from typing import Any, NoReturn

import grpc
import pytest
from meshgate.errors import AuthenticationError
from meshgate.model import AccessRequest, CredentialKind, Decision, Identity, Resource
from meshgate.server import wire as convert
from meshgate.server.authn import Authenticator
from meshgate.server.chain import recovered
from meshgate.server.decision_memo import DecisionMemo
from meshgate.server.revision_feed import RevisionFeed
from meshgate.server.servicer import AuthorizationServicer, PolicySnapshotLike
from meshgate.v1 import meshgate_pb2 as pb

WRITER = "spiffe://td/ns/payments/sa/writer"
RESOURCE_FIELDS = ("tenant", "namespace", "topic", "cluster", "broker")
TOPIC = pb.Resource(tenant="acme", namespace="acme/payments", topic="persistent://acme/payments/orders")


class Stub:
    """A snapshot that answers `allowed` (or raises `failure` once) and counts its evaluations."""

    commit = ""

    def __init__(self, revision: str, allowed: bool, failure: Exception | None = None) -> None:
        self.revision = revision
        self.allowed = allowed
        self.failure = failure
        self.calls = 0

    def decide(self, request: AccessRequest) -> Decision:
        self.calls += 1
        if self.failure is not None:
            failure, self.failure = self.failure, None
            raise failure
        code = "allowed_by_rule" if self.allowed else "no_matching_rule"
        return Decision(self.allowed, "r", code, "why", self.revision)


class GroupStub(Stub):
    """Allows exactly the callers whose vouched claims put them in group `a`."""

    def decide(self, request: AccessRequest) -> Decision:
        self.calls += 1
        allowed = "a" in request.attributes.get("groups", ())
        return Decision(allowed, "", "allowed_by_rule" if allowed else "no_matching_rule", "", self.revision)


class Source:
    def __init__(self, snapshot: PolicySnapshotLike) -> None:
        self.snapshot = snapshot

    def current(self) -> PolicySnapshotLike:
        return self.snapshot


class Tokens:
    """Token `<principal>|<group>` authenticates to that principal with that group; counts verifications."""

    def __init__(self) -> None:
        self.verified: list[str] = []

    def authenticate(self, token: str, budget: float | None = None) -> Identity:
        self.verified.append(token)
        principal, _, group = token.partition("|")
        if not group:
            raise AuthenticationError("bad token", code="malformed")
        return Identity(principal, CredentialKind.OIDC, issuer="https://idp", attributes={"groups": (group,)})


class Aborted(Exception):
    """What the stand-in context's `abort` raises (grpc's own raises a bare Exception)."""


class Context:
    def abort(self, code: grpc.StatusCode, details: str) -> NoReturn:
        raise Aborted(code, details)

    def time_remaining(self) -> float:
        return 5.0


def servicer(
    source: Source, memo: DecisionMemo[Decision] | None = None, tokens: Tokens | None = None
) -> AuthorizationServicer:
    feed = RevisionFeed(lambda: ("", ""))
    return AuthorizationServicer(source, Authenticator(tokens=tokens or Tokens()), feed, memo)


def request(principal: str = WRITER, token: str = "", topic: str = TOPIC.topic) -> pb.AuthorizeRequest:
    resource = pb.Resource(tenant=TOPIC.tenant, namespace=TOPIC.namespace, topic=topic)
    out = pb.AuthorizeRequest(principal=principal, action="topic.produce", resource=resource)
    if token:
        out.credential.token = token
    return out


def batch(service: AuthorizationServicer, *items: pb.AuthorizeRequest) -> list[bool]:
    """As the server calls it: errors answered by the interceptor chain's recovery."""
    call = recovered("AuthorizeBatch", service.AuthorizeBatch)
    answer = call(pb.AuthorizeBatchRequest(requests=items), Context())  # type: ignore[arg-type]
    return [d.allowed for d in answer.decisions]


def single(service: AuthorizationServicer, item: pb.AuthorizeRequest) -> pb.Decision:
    return recovered("Authorize", service.Authorize)(item, Context()).decision  # type: ignore[arg-type]


def test_repeated_questions_are_evaluated_once_per_snapshot() -> None:
    source = Source(Stub("r1", allowed=True))
    service = servicer(source)
    assert batch(service, request(), request(), request(topic="persistent://acme/payments/x")) == [True] * 3
    assert single(service, request()).allowed
    assert source.snapshot.calls == 2  # type: ignore[attr-defined]


@pytest.mark.parametrize("revision", ["r1", "r2"], ids=["same-revision-string", "new-revision"])
def test_a_swap_never_serves_the_old_answer_even_before_forget(revision: str) -> None:
    old, new = Stub("r1", allowed=True), Stub(revision, allowed=False)
    source, memo = Source(old), DecisionMemo[Decision]()
    service = servicer(source, memo)
    assert batch(service, request(), request()) == [True, True]
    source.snapshot = new  # the swap; nobody calls memo.forget()
    assert batch(service, request(), request()) == [False, False]
    decision = single(service, request())
    assert (decision.allowed, decision.revision) == (False, revision)
    assert (old.calls, new.calls) == (1, 1)


def test_an_answer_stored_by_a_caller_that_raced_a_swap_is_never_read() -> None:
    old, new = Stub("r1", allowed=True), Stub("r2", allowed=False)
    memo = DecisionMemo[str]()
    stale = memo.table_for(old)  # taken before the swap …
    fresh = memo.table_for(new)
    stale.put("key", "allow from r1")  # … and filled after it
    assert memo.table_for(new) is fresh and fresh.get("key") is None
    assert memo.table_for(old) is not stale  # the old snapshot again would start empty as well


def test_forget_drops_the_table_and_keeps_the_counts() -> None:
    memo = DecisionMemo[str]()
    snapshot = Stub("r1", allowed=True)
    table = memo.table_for(snapshot)
    table.put("k", "v")
    assert table.get("k") == "v" and table.get("other") is None
    memo.forget()
    assert memo.entries == 0 and memo.table_for(snapshot).get("k") is None
    assert (memo.hits, memo.misses) == (1, 2)


def test_errors_are_never_memoized() -> None:
    snapshot = Stub("r1", allowed=True, failure=RuntimeError("engine bug"))
    memo = DecisionMemo[Decision]()
    service = servicer(Source(snapshot), memo)
    with pytest.raises(Aborted) as failed:
        batch(service, request())
    assert failed.value.args[0] == grpc.StatusCode.INTERNAL and memo.entries == 0
    assert batch(service, request()) == [True]
    assert snapshot.calls == 2


def test_a_bad_item_fails_the_call_and_stores_nothing() -> None:
    memo = DecisionMemo[Decision]()
    service = servicer(Source(Stub("r1", allowed=True)), memo)
    for _ in range(2):
        with pytest.raises(Aborted) as failed:
            batch(service, request(), request(principal=""))
        assert failed.value.args[0] == grpc.StatusCode.INVALID_ARGUMENT
    assert memo.entries == 1  # the good item before it; never an entry for the bad one


def test_vouched_claims_are_part_of_the_key() -> None:
    service = servicer(Source(GroupStub("r1", allowed=False)))
    in_a, in_b = request(token=f"{WRITER}|a"), request(token=f"{WRITER}|b")
    someone_else = request(token="spiffe://td/ns/other/sa/x|a")  # claims of another principal do not count
    assert batch(service, in_a, in_b, in_a, someone_else, request(), request(token="garbage")) == [
        True, False, True, False, False, False
    ]  # fmt: skip
    assert single(service, in_b).allowed is False and single(service, in_a).allowed is True


def test_a_credential_repeated_across_a_batch_is_verified_once() -> None:
    tokens = Tokens()
    service = servicer(Source(GroupStub("r1", allowed=False)), tokens=tokens)
    in_a, in_b = request(token=f"{WRITER}|a"), request(token=f"{WRITER}|b")
    assert batch(service, in_a, request(token=f"{WRITER}|a", topic="persistent://acme/payments/x"), in_b) == [
        True, True, False
    ]  # fmt: skip
    assert tokens.verified == [f"{WRITER}|a", f"{WRITER}|b"]


def test_the_key_covers_every_field_the_policy_can_read() -> None:
    """If AccessRequest or Resource gains a field, `decision_key` must gain it too (then update this list)."""
    assert [f.name for f in dataclasses.fields(AccessRequest)] == [
        "principal", "action", "resource", "subscription", "issuer", "attributes"
    ]  # fmt: skip
    assert [f.name for f in dataclasses.fields(Resource)] == list(RESOURCE_FIELDS)
    caller = Identity(WRITER, CredentialKind.OIDC, issuer="https://idp", attributes={"groups": ("a",)})
    other = dataclasses.replace(caller, attributes={"groups": ("b",)})
    base = request()
    variants: list[tuple[pb.AuthorizeRequest, Identity | None]] = [(base, None), (base, caller)]
    variants.append((base, other))
    for field in ("principal", "action", "subscription"):
        changed = pb.AuthorizeRequest()
        changed.CopyFrom(base)
        setattr(changed, field, "x")
        variants.append((changed, None))
    for field in RESOURCE_FIELDS:
        changed = pb.AuthorizeRequest()
        changed.CopyFrom(base)
        setattr(changed.resource, field, "x")
        variants.append((changed, None))
    keys = [convert.decision_key(msg, who) for msg, who in variants]
    accesses = [convert.access_request_from_pb(msg, who) for msg, who in variants]
    assert len(set(keys)) == len(set(map(_comparable, accesses))) == len(variants)


def test_fields_the_policy_never_reads_share_the_entry() -> None:
    plain, noisy = request(), request()
    noisy.request_id, noisy.broker_id, noisy.peer.address = "id-1", "broker-7", "10.0.0.1:4242"
    assert convert.decision_key(plain, None) == convert.decision_key(noisy, None)


def test_the_table_is_bounded_least_recently_used_first() -> None:
    table = DecisionMemo[str](max_entries=2).table_for(Stub("r1", allowed=True))
    table.put("a", "1")
    table.put("b", "2")
    assert table.get("a") == "1"  # "b" is now the least recently used
    table.put("c", "3")
    assert (table.get("a"), table.get("b"), table.get("c"), len(table)) == ("1", None, "3", 2)


def test_a_memo_of_size_zero_stores_nothing() -> None:
    snapshot = Stub("r1", allowed=True)
    service = servicer(Source(snapshot), DecisionMemo(max_entries=0))
    assert batch(service, request(), request()) == [True, True]
    assert snapshot.calls == 2


def _comparable(access: AccessRequest) -> tuple[Any, ...]:
    r = access.resource
    resource = (r.tenant, r.namespace, r.topic, r.cluster, r.broker)
    claims = tuple(access.attributes.items())
    return access.principal, access.action, resource, access.subscription, access.issuer, claims


class Counting:
    """A snapshot that allows everything, counting its evaluations from any thread."""

    commit = ""

    def __init__(self, revision: str) -> None:
        self.revision = revision
        self.calls = 0
        self._lock = threading.Lock()

    def decide(self, request: AccessRequest) -> Decision:
        with self._lock:
            self.calls += 1
        return Decision(True, "r", "allowed_by_rule", "why", self.revision)


def _in_threads(count: int, work: Any) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def run(n: int) -> None:
        start.wait()
        try:
            work(n)
        except BaseException as error:  # collected: an exception in a thread would otherwise vanish
            errors.append(error)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return errors


def test_a_table_shared_by_threads_stays_bounded_and_counts_every_lookup() -> None:
    table = DecisionMemo[int](max_entries=64).table_for(Stub("r1", allowed=True))

    def work(n: int) -> None:
        for i in range(3000):  # overlapping keys: gets move entries that other threads' puts evict
            key = (n * 7 + i) % 200
            if table.get(key) is None:
                table.put(key, i)

    assert _in_threads(8, work) == []
    assert len(table) == 64
    assert table.hits + table.misses == 8 * 3000


def test_threads_racing_a_swap_never_read_the_old_snapshot_and_lose_no_counts() -> None:
    memo = DecisionMemo[Decision]()
    snapshots = [Counting(f"r{i}") for i in range(50)]
    current = Source(snapshots[0])  # type: ignore[arg-type]
    service = servicer(current, memo)

    def work(n: int) -> None:
        for i in range(400):
            if n == 0 and i % 8 == 0:  # one thread swaps (as the reloader does), then forgets
                current.snapshot = snapshots[i // 8]  # type: ignore[assignment]
                memo.forget()
            before = int(current.snapshot.revision[1:])
            decision = single(service, request(topic=f"persistent://acme/payments/t{i % 5}"))
            after = int(current.snapshot.revision[1:])
            assert before <= int(decision.revision[1:]) <= after  # never older than the call

    assert _in_threads(6, work) == []
    assert memo.hits + memo.misses <= 6 * 400  # lookups of a retired table after its retirement go uncounted
    assert memo.hits + memo.misses >= 6 * 400 - 6 * 50  # at most one per thread and swap
