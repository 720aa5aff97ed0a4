"""Accountable agents end to end (issue #18 item 3): admin REST calls with RFC 8693 delegated tokens
(`Authorization: Bearer`, auth method `token`) → real broker → shim → meshgate, on Pulsar 4.0 and 4.2.

Keycloak 26.5's token exchange cannot put an `act` claim in a token (docs/oidc.md), so the session service
trusts a second SSO issuer whose keys the tests' JWKS server serves, and the tests mint its tokens. The rules
are tests/e2e/policies/agents_e2e.yaml (the deploy bot may change the retention of acme/payments only when
acting for a member of payments-admins) and policies/examples/agents.yaml (no agent may delete a topic).
The service's audit file must name the whole chain (the person, the bot, the orchestrator that handed the
bot the token) for every decision.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from devtools import pki as dev_pki
from devtools.broker import StandaloneBroker
from devtools.service import MeshgateProcess, audit_file
from tests.conformance.oidc.mint import mint, signing_keys
from tests.e2e.conftest import AGENTS_ISSUER, AGENTS_KEY
from tests.support.pulsar_clients import tls_client

pytestmark = pytest.mark.e2e
BOT = f"oidc:{AGENTS_ISSUER}#deploy-bot"
ORCHESTRATOR = f"oidc:{AGENTS_ISSUER}#release-orchestrator"
RETENTION = "/admin/v2/namespaces/acme/payments/retention"
RETENTION_BODY = {"retentionTimeInMinutes": 30, "retentionSizeInMB": 20}


def agent_token(person: str, groups: list[str], *, act: dict[str, Any] | None = None) -> str:
    """What the token exchange hands the deploy bot: about `person` (`sub`, their groups), acted by the bot,
    which the release orchestrator called (the nested actor)."""
    signer = signing_keys()[AGENTS_KEY]
    now = int(time.time())
    chain = {"sub": "deploy-bot", "act": {"sub": "release-orchestrator"}} if act is None else act
    claims = {"iss": AGENTS_ISSUER, "sub": person, "aud": "pulsar", "iat": now - 5, "exp": now + 600}
    claims.update(groups=groups, **({"act": chain} if chain else {}))
    return mint(signer, {"alg": signer.alg, "typ": "JWT", "kid": signer.kid}, claims)


def admin(broker: StandaloneBroker, token: str, method: str, path: str, body: object = None) -> int:
    """An admin REST call on the plain HTTP port with a bearer token (the broker's `token` method)."""
    headers = {"Authorization": f"Bearer {token}", "X-Pulsar-Auth-Method-Name": "token"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(broker.web_url + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def person() -> str:
    """A person of their own per test, so the audit records of one test are told apart by the chain."""
    return f"person-{uuid.uuid4().hex[:8]}"


def chain_of(name: str) -> dict[str, Any]:
    return {"subject": f"oidc:{AGENTS_ISSUER}#{name}", "actors": [BOT, ORCHESTRATOR]}


def audited(meshgate: MeshgateProcess, name: str, action: str, want: int = 1) -> list[dict[str, Any]]:
    """The authorize records about `action` made for `name` (by delegation), once `want` are on disk."""
    path: Path = audit_file(meshgate.config)
    subject = f"oidc:{AGENTS_ISSUER}#{name}"
    deadline = time.monotonic() + 15
    while True:
        records = [json.loads(line) for line in path.read_text().splitlines()]
        found = [
            r
            for r in records
            if r.get("action") == action and r.get("delegation", {}).get("subject") == subject
        ]
        if len(found) >= want or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_deploy_bot_acting_for_a_payments_admin_changes_retention(
    broker: StandaloneBroker, meshgate: MeshgateProcess
) -> None:
    alice = person()
    token = agent_token(alice, ["payments-admins", "staff"])
    assert admin(broker, token, "POST", RETENTION, RETENTION_BODY) == 204
    records = audited(meshgate, alice, "namespace_policy.retention.write")
    assert records, "the decision for the delegated call is in the audit file with its chain"
    allowed = records[-1]
    assert (allowed["principal"], allowed["decision"]) == (BOT, "allow")
    assert allowed["rule_id"] == "agents_e2e.yaml#deploy-bot-for-payments-admins"
    assert allowed["delegation"] == chain_of(alice)


def test_deploy_bot_acting_for_a_non_admin_or_as_itself_is_denied(
    broker: StandaloneBroker, meshgate: MeshgateProcess
) -> None:
    bob = person()
    assert admin(broker, agent_token(bob, ["staff"]), "POST", RETENTION, RETENTION_BODY) in (401, 403)
    denied = audited(meshgate, bob, "namespace_policy.retention.write")
    assert denied and denied[-1]["decision"] == "deny" and denied[-1]["reason_code"] == "no_matching_rule"
    assert denied[-1]["delegation"] == chain_of(bob)
    # The bot's own token (client credentials: `sub` is the bot, no `act`), even with the admins' group.
    itself = agent_token("deploy-bot", ["payments-admins"], act={})
    assert admin(broker, itself, "POST", RETENTION, RETENTION_BODY) in (401, 403)


def test_no_agent_may_delete_a_topic(
    broker: StandaloneBroker, pki: dev_pki.DevPki, meshgate: MeshgateProcess
) -> None:
    name = f"agents-{uuid.uuid4().hex[:8]}"
    with tls_client(broker, pki, "writer") as writer:
        writer.create_producer(f"persistent://acme/payments/{name}").send(b"keep me")
    alice = person()
    token = agent_token(alice, ["payments-admins"])  # the allow rule covers delete_topic; the deny wins
    assert admin(broker, token, "DELETE", f"/admin/v2/persistent/acme/payments/{name}") in (401, 403)
    denied = audited(meshgate, alice, "namespace.delete_topic")
    assert denied, "the delete was asked about and decided for the delegated call"
    assert (denied[-1]["decision"], denied[-1]["rule_id"]) == (
        "deny",
        "agents.yaml#no-agent-deletes-topics",
    )
    assert denied[-1]["delegation"] == chain_of(alice)
    status, _ = broker.admin_get(f"/admin/v2/persistent/acme/payments/{name}/stats")
    assert status == 200, "the topic is still there"


def test_a_too_deep_or_malformed_chain_is_refused_at_login(
    broker: StandaloneBroker, meshgate: MeshgateProcess
) -> None:
    deep: dict[str, Any] = {"sub": "a5"}
    for level in range(4, 0, -1):
        deep = {"sub": f"a{level}", "act": deep}
    for chain, code in ((deep, "delegation_too_deep"), ({"iss": AGENTS_ISSUER}, "malformed_delegation")):
        since = len(meshgate.log.read_text(errors="replace"))
        assert admin(broker, agent_token(person(), ["payments-admins"], act=chain), "GET", RETENTION) == 401
        deadline = time.monotonic() + 10
        while f"authentication rejected: {code}:" not in meshgate.log.read_text(errors="replace")[since:]:
            assert time.monotonic() < deadline, f"{code} not in {meshgate.log}"
            time.sleep(0.2)
