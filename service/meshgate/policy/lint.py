"""Warnings about valid policies that do not do what they read like, for `meshgate validate`. Pure.

Each warning is one line, `file:line: what happens and what to write instead`:

- an allow rule whose wildcard (`*`, `tenant.*`) no longer grants `superuser` or `tenant.admin`;
- a rule narrowed to `subscriptions` that names an action Pulsar also asks without a subscription;
- a deny that a `superuser` or `tenant.admin` grant to an overlapping subject makes unreachable, because
  Pulsar lets the holder through without asking about the operation (`actions.SKIPPED_BY_GRANT`);
- a raw action next to an intent that covers it, or in a deny that the intent needs but leaves out
  (`meshgate.policy.lint_intents`);
- an allow to `everyone` (of any kind) on `*`: whoever gets any credential accepted gets it everywhere.

Overlap is judged from the patterns alone and errs towards warning: two SPIFFE patterns overlap unless
some segment cannot match the same name, and an OIDC subject (matched by issuer and claims, not by name)
may be the same caller as any other subject.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from meshgate.policy.actions import (
    ASKED_WITHOUT_SUBSCRIPTION,
    INTENT_ACTIONS,
    SKIPPED_BY_GRANT,
    SUPERUSER,
    TENANT_ADMIN,
    wildcard_grants,
)
from meshgate.policy.compile import CompiledRule
from meshgate.policy.lint_intents import intent_conflicts
from meshgate.policy.oidcsubject import OidcSubject
from meshgate.policy.patterns import SegmentPattern
from meshgate.policy.resources import ResourcePattern, Scope
from meshgate.policy.subjects import EveryoneSubject, Subject, namespaces_of
from meshgate.policy.yamlsrc import JsonPath, SourceDoc

_SHOWN = 4  # actions listed by name in one warning


def lint(docs: Iterable[SourceDoc], rules: Sequence[CompiledRule]) -> list[str]:
    """Every warning for compiled `rules` (of `docs`), in file and line order."""
    placed = {f"{doc.file}#{raw['name']}": (doc, ("rules", i)) for doc in docs for i, raw in _rules(doc)}
    warnings: list[str] = []
    for rule in rules:
        doc, path = placed[rule.id]
        warnings += _wildcard_grants(rule, doc, path)
        warnings += _without_subscription(rule, doc, path)
        warnings += intent_conflicts(rule, doc, path)
        warnings += _everyone_everywhere(rule, doc, path)
    warnings += _skipped_denies(rules)
    return sorted(warnings, key=_position)


def _rules(doc: SourceDoc) -> Iterator[tuple[int, Any]]:
    return enumerate(doc.data.get("rules", ()))


def _position(warning: str) -> tuple[str, int]:
    file, _, rest = warning.partition(":")
    line = rest.partition(":")[0]
    return file, int(line) if line.isdigit() else 0


# --- wildcards that used to grant superuser or tenant.admin ------------------------------------------


def _grant_resources(rule: CompiledRule, grant: str) -> list[ResourcePattern]:
    """The rule's resources that cover the requests of `grant` (superuser: none; tenant.admin: a tenant)."""
    scopes = (Scope.ANY,) if grant == SUPERUSER else (Scope.ANY, Scope.TENANT)
    return [r for r in rule.resources if r.scope in scopes]


def _wildcard_grants(rule: CompiledRule, doc: SourceDoc, path: JsonPath) -> list[str]:
    if rule.effect != "allow":
        return []  # in a deny rule a wildcard still stands for both grants
    found = []
    for index, pattern in enumerate(rule.action_patterns):
        for grant in sorted(wildcard_grants(pattern) - rule.actions):
            covered = _grant_resources(rule, grant)
            if covered:
                where = doc.where((*path, "actions", index))
                found.append(f"{where}: {_lost_grant(rule, pattern, grant, covered)}")
    return found


def _lost_grant(rule: CompiledRule, pattern: str, grant: str, covered: list[ResourcePattern]) -> str:
    how = "an intent" if pattern in INTENT_ACTIONS else "a wildcard"
    head = f"{pattern!r} in allow rule {rule.id!r} does not grant {grant}: {how} never grants it"
    if grant == SUPERUSER:
        return (
            f"{head}, because a super-user skips explicit denies; if its subjects must be super-users, add a "
            'rule with `actions: [superuser]` and `resources: ["*"]`'
        )
    tenants = ", ".join("every tenant" if r.scope is Scope.ANY else r.text for r in covered)
    return (
        f"{head}, because a tenant admin skips explicit denies; if its subjects must be tenant admins of "
        f"{tenants}, add `tenant.admin` (or the `tenant-admin` verb) to its actions"
    )


# --- everyone, everywhere ------------------------------------------------------------------------------


def _everyone_everywhere(rule: CompiledRule, doc: SourceDoc, path: JsonPath) -> list[str]:
    if rule.effect != "allow" or not any(r.scope is Scope.ANY for r in rule.resources):
        return []
    found = []
    for index, subject in enumerate(rule.subjects):
        if isinstance(subject, EveryoneSubject):
            own = "subjects" in doc.data["rules"][path[1]]
            where = doc.where((*path, "subjects", index) if own else ("subjects", index))
            found.append(
                f"{where}: allow rule {rule.id!r} lets {subject.words} ({subject.text}) do "
                f"{len(rule.actions)} action(s) on every tenant, namespace, topic and cluster: whoever gets "
                "any credential of that kind accepted gets them; name the tenants or namespaces in "
                "`resources`, or name the subjects"
            )
    return found


# --- subscriptions on actions Pulsar asks without one ----------------------------------------------------


def _without_subscription(rule: CompiledRule, doc: SourceDoc, path: JsonPath) -> list[str]:
    if rule.subscriptions is None:
        return []
    named = sorted(rule.actions & ASKED_WITHOUT_SUBSCRIPTION.keys())
    if not named:
        return []
    when = "; ".join(f"{a} {ASKED_WITHOUT_SUBSCRIPTION[a]}" for a in named)
    effect = (
        "there this deny applies whatever the subscription"
        if rule.effect == "deny"
        else "there this allow never applies"
    )
    where = doc.where((*path, "subscriptions"))
    return [
        f"{where}: {rule.effect} rule {rule.id!r} is limited to subscriptions, but Pulsar asks without "
        f"naming one: {when}; {effect}"
    ]


# --- denies a superuser or tenant.admin grant makes unreachable ---------------------------------------


def _skipped_denies(rules: Sequence[CompiledRule]) -> list[str]:
    grants = [
        (rule, grant)
        for rule in rules
        if rule.effect == "allow" and not rule.audit
        for grant in sorted(rule.actions & SKIPPED_BY_GRANT.keys())
        if _grant_resources(rule, grant)
    ]
    denies = [r for r in rules if r.effect == "deny" and not r.audit]
    found = []
    for deny in denies:
        for grant_rule, grant in grants:
            warning = _skipped(deny, grant_rule, grant)
            if warning:
                found.append(warning)
    return found


def _skipped(deny: CompiledRule, grant_rule: CompiledRule, grant: str) -> str:
    skipped = sorted(deny.actions & SKIPPED_BY_GRANT[grant])
    if not skipped or _denies_grant(deny, grant_rule, grant):
        return ""
    pair = next(
        ((d, g) for d in deny.subjects for g in grant_rule.subjects if subjects_may_overlap(d, g)), None
    )
    if pair is None:
        return ""
    tenants = _grant_resources(grant_rule, grant)
    if grant == TENANT_ADMIN:
        tenants = [t for t in tenants if any(tenants_may_overlap(r, t) for r in deny.resources)]
        if not tenants:
            return ""
    return _skip_message(deny, grant_rule, grant, pair, skipped, tenants)


def _denies_grant(deny: CompiledRule, grant_rule: CompiledRule, grant: str) -> bool:
    """True when `deny` itself denies the grant wherever the grant rule gives it (no bypass then)."""
    if grant not in deny.actions:
        return False
    texts = {r.text for r in deny.resources}
    return "*" in texts or all(r.text in texts for r in _grant_resources(grant_rule, grant))


def _skip_message(
    deny: CompiledRule,
    grant_rule: CompiledRule,
    grant: str,
    pair: tuple[Subject, Subject],
    skipped: list[str],
    tenants: list[ResourcePattern],
) -> str:
    subject = pair[0].text if pair[0].text == pair[1].text else f"{pair[0].text} ({pair[1].text})"
    if grant == SUPERUSER:
        role, holder = "a super-user", "a super-user"
        calls = "every admin call that asks only for a super-user"
    else:
        role = "tenant admin of " + ", ".join(
            "every tenant" if t.scope is Scope.ANY else t.text for t in tenants
        )
        holder = "a tenant admin"
        calls = (
            "the calls that ask only for a tenant admin (topic truncate, topic permissions, schema admin, "
            "namespace properties)"
        )
    shown = ", ".join(skipped[:_SHOWN]) + (
        f" and {len(skipped) - _SHOWN} more" if len(skipped) > _SHOWN else ""
    )
    return (
        f"{deny.where}: deny rule {deny.id!r} never runs for {subject} where rule {grant_rule.id!r} "
        f"({grant_rule.where}) makes it {role}: Pulsar lets {holder} do {shown}, and {calls}, without asking "
        f"about the operation; deny {grant} to these subjects too, or narrow {grant_rule.id!r}"
    )


# --- overlap of subject and resource patterns --------------------------------------------------------


def subjects_may_overlap(a: Subject, b: Subject) -> bool:
    """False only when no caller can match both `a` and `b`."""
    if isinstance(a, EveryoneSubject) or isinstance(b, EveryoneSubject):
        return bool(namespaces_of(a) & namespaces_of(b))
    (kind_a, key_a), (kind_b, key_b) = a.index_key, b.index_key
    if kind_a == "issuer" and kind_b == "issuer":
        return key_a == key_b and _claims_may_overlap(a, b)
    if "issuer" in (kind_a, kind_b):
        return True  # a token's principal may be any name, so it may also match the other subject
    if kind_a == "exact":
        return b.match(key_a, "", {}) is not None
    if kind_b == "exact":
        return a.match(key_b, "", {}) is not None
    segments_a, segments_b = getattr(a, "segments", ()), getattr(b, "segments", ())
    return len(segments_a) == len(segments_b) and all(
        segments_may_overlap(x, y) for x, y in zip(segments_a, segments_b, strict=True)
    )


def _claims_may_overlap(a: Subject, b: Subject) -> bool:
    """Two subjects of one issuer: False when they name other principals, or a claim both condition on
    has no value in common."""
    if not isinstance(a, OidcSubject) or not isinstance(b, OidcSubject):
        return True
    if a.principal and b.principal and a.principal != b.principal:
        return False
    wanted = dict(a.conditions)
    return all(wanted.get(claim, values) & values for claim, values in b.conditions)


def segments_may_overlap(x: SegmentPattern, y: SegmentPattern) -> bool:
    """False only when no name can match both segment patterns (captures match anything)."""
    if x.pieces is None or y.pieces is None:
        return True
    if x.literal is not None:
        return y.matches(x.literal)
    if y.literal is not None:
        return x.matches(y.literal)
    (first_x, last_x), (first_y, last_y) = (x.pieces[0], x.pieces[-1]), (y.pieces[0], y.pieces[-1])
    heads = first_x.startswith(first_y) or first_y.startswith(first_x)
    return heads and (last_x.endswith(last_y) or last_y.endswith(last_x))


def tenants_may_overlap(resource: ResourcePattern, tenant: ResourcePattern) -> bool:
    """Whether `resource` may lie inside a tenant that `tenant` (scope any or tenant) matches."""
    if resource.scope is Scope.CLUSTER:
        return False
    if resource.scope is Scope.ANY or tenant.scope is Scope.ANY:
        return True
    return segments_may_overlap(resource.segments[0], tenant.segments[0])
