"""Turn cases.yaml into policy decision cases, shared by the in-process runner and the gRPC runner.

`iter_cases()` yields `Case(case_id, policy_dir, superusers, request, allowed, reason_code, rule_id)`:
load `policy_dir` with `load_policy(policy_dir, superusers=superusers)` (default Linkerd naming),
decide `request`, and compare. `rule_id` is None when the case does not pin the deciding rule, ""
when no rule may decide. `expected_shadow()` gives the audit-only effects each case expects.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from meshgate.model import AccessRequest, Resource, ShadowEffect
from meshgate.policy.resources import parse_resource

CASES_FILE = Path(__file__).with_name("cases.yaml")
_RULE_REASONS = ("allowed_by_rule", "denied_by_rule")


class Case(NamedTuple):
    case_id: str
    policy_dir: Path
    superusers: tuple[str, ...]
    request: AccessRequest
    allowed: bool
    reason_code: str
    rule_id: str | None


@cache
def _table() -> Mapping[str, Any]:
    data: Mapping[str, Any] = yaml.safe_load(CASES_FILE.read_text("utf-8"))
    return data


def _resource(raw: str | Mapping[str, str]) -> Resource:
    return parse_resource(raw) if isinstance(raw, str) else Resource(**raw)


def _request(raw: Mapping[str, Any]) -> AccessRequest:
    claims = {k: tuple(v) for k, v in raw.get("claims", {}).items()}
    return AccessRequest(
        principal=raw["principal"],
        action=raw["action"],
        resource=_resource(raw.get("resource", "")),
        subscription=raw.get("subscription", ""),
        issuer=raw.get("issuer", ""),
        attributes=claims,
    )


def _case(raw: Mapping[str, Any], table: Mapping[str, Any]) -> Case:
    reason = raw["reason"]
    rule = raw.get("rule", None if reason in _RULE_REASONS else "")
    return Case(
        case_id=raw["id"],
        policy_dir=CASES_FILE.parent / raw.get("policy", table["policy"]),
        superusers=tuple(raw.get("superusers", table["superusers"])),
        request=_request(raw),
        allowed=raw["expect"] == "allow",
        reason_code=reason,
        rule_id=rule,
    )


def iter_cases() -> Iterator[Case]:
    table = _table()
    for raw in table["cases"]:
        yield _case(raw, table)


def expected_shadow() -> dict[str, tuple[ShadowEffect, ...]]:
    """Per case id, the audit-only effects the decision must report (in rule order)."""
    return {
        raw["id"]: tuple(ShadowEffect(rule, bool(allow)) for rule, allow in raw.get("shadow", ()))
        for raw in _table()["cases"]
    }
