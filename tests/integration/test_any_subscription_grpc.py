"""`Decision.any_subscription` on the wire, with the example policies: the broker plugin may reuse a
consume answer for every subscription name only when the service says no rule narrows subscriptions
(payments: the reader consumes on any subscription; teams: a deny names `quarantine-*`, and applies
when the question names no subscription, as the broker plugin's prefetch does)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from meshgate.v1 import meshgate_pb2 as pb

if TYPE_CHECKING:
    from tests.integration.conftest import Stubs

pytestmark = pytest.mark.integration


def consume(principal: str, topic: str, subscription: str = "", **extra: bool) -> pb.AuthorizeRequest:
    tenant, namespace = topic.removeprefix("persistent://").split("/")[:2]
    resource = pb.Resource(tenant=tenant, namespace=f"{tenant}/{namespace}", topic=topic)
    return pb.AuthorizeRequest(
        principal=principal, action="topic.consume", resource=resource, subscription=subscription, **extra
    )


def test_consume_answers_say_whether_they_hold_for_any_subscription(stubs: Stubs) -> None:
    reader = "spiffe://meshgate.test/ns/payments/sa/reader"
    orders = "spiffe://meshgate.test/ns/orders/sa/worker"
    batch = pb.AuthorizeBatchRequest(
        requests=[
            consume(reader, "persistent://acme/payments/orders", prefetch=True),
            consume(orders, "persistent://orders-team/default/jobs", prefetch=True),
            consume(orders, "persistent://orders-team/default/jobs", "quarantine-1"),
            consume(orders, "persistent://orders-team/default/jobs", "work"),
        ]
    )
    reader_any, orders_any, quarantined, work = stubs.authorization.AuthorizeBatch(
        batch, timeout=10
    ).decisions
    assert reader_any.allowed and reader_any.any_subscription
    # the quarantine deny narrows names; without one it applies: a deny is never weaker than the allow
    assert (orders_any.allowed, orders_any.rule_id) == (False, "teams.yaml#no-one-consumes-quarantine")
    assert not orders_any.any_subscription
    assert not quarantined.allowed and not quarantined.any_subscription
    assert work.allowed and not work.any_subscription
    lookup = pb.AuthorizeRequest(
        principal=reader,
        action="topic.lookup",
        resource=consume(reader, "persistent://acme/payments/x").resource,
    )
    assert not stubs.authorization.Authorize(lookup, timeout=10).decision.any_subscription
