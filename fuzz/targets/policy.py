"""`load_policy` on a fuzzed YAML file in a private temporary folder; when it compiles, the indexed engine and
the naive reference evaluator must agree on a fixed set of requests. Invariants: only MeshgateError
(PolicyError) escapes loading; decisions match the naive scan exactly.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

from meshgate.model import AccessRequest, Resource
from meshgate.policy import load_policy

from fuzz.targets.common import InvariantViolation, rejected_cleanly
from tests.support.naive import naive_decide

SUPERUSER = "spiffe://fuzz.test/ns/pulsar/sa/broker"
_PRINCIPALS = (
    "spiffe://fuzz.test/ns/payments/sa/writer",
    "spiffe://fuzz.test/ns/payments/sa/reader",
    "spiffe://meshgate.test/ns/payments/sa/writer",
    "writer.payments.serviceaccount.identity.linkerd.meshgate.test",
    SUPERUSER,
    "",
)
_ACTIONS = ("topic.produce", "topic.consume", "produce", "namespace.view", "topic.lookup", "nonsense")
_RESOURCE = Resource("acme", "acme/payments", "persistent://acme/payments/orders")
REQUESTS = tuple(
    AccessRequest(p, a, _RESOURCE, subscription="s1") for p in _PRINCIPALS if p for a in _ACTIONS
)


@functools.cache
def folder() -> Path:
    base = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
    path = Path(tempfile.mkdtemp(prefix="meshgate-fuzz-policy-", dir=base))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def target(data: bytes) -> None:
    (folder() / "fuzzed.yaml").write_bytes(data)
    try:
        snapshot = load_policy(folder(), superusers={SUPERUSER})
    except Exception as error:
        if rejected_cleanly(error):
            return
        raise
    for request in REQUESTS:
        try:
            fast, slow = snapshot.decide(request), naive_decide(snapshot, request)
        except Exception as error:
            if rejected_cleanly(error):
                continue
            raise
        if (fast.allowed, fast.rule_id, fast.reason_code) != (slow.allowed, slow.rule_id, slow.reason_code):
            raise InvariantViolation(f"engine {fast} disagrees with the naive scan {slow} on {request}")
