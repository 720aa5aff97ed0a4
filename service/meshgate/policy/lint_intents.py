"""Warnings about intent verbs mixed with raw action names that they already cover or deliberately leave
out, for `meshgate validate` (`meshgate.policy.lint`). Pure."""

from __future__ import annotations

from meshgate.policy.actions import INTENT_ACTIONS, expand_pattern
from meshgate.policy.compile import CompiledRule
from meshgate.policy.operations import NEEDS
from meshgate.policy.yamlsrc import JsonPath, SourceDoc


def intent_conflicts(rule: CompiledRule, doc: SourceDoc, path: JsonPath) -> list[str]:
    """One warning per raw action pattern of `rule` that an intent of the same rule covers (redundant),
    or, in a deny, that one of its intents needs but does not deny (a lookup: it would stop other
    intents too)."""
    intents = [p for p in rule.action_patterns if p in INTENT_ACTIONS]
    if not intents:
        return []
    deny = rule.effect == "deny"
    found = []
    for index, pattern in enumerate(rule.action_patterns):
        if pattern in INTENT_ACTIONS:
            continue
        message = _conflict(rule, pattern, intents, deny)
        if message:
            found.append(f"{doc.where((*path, 'actions', index))}: {message}")
    return found


def _conflict(rule: CompiledRule, pattern: str, intents: list[str], deny: bool) -> str:
    actions = expand_pattern(pattern, grants=deny)
    for intent in intents:
        needed = actions & frozenset(NEEDS.get(intent, ()))
        if deny and needed:
            name = sorted(needed)[0]
            return (
                f"deny rule {rule.id!r} lists {pattern!r} next to {intent}, but {name} is not part of "
                f"{intent}: an allow of {intent} includes it because {intent} cannot work without it, and "
                f"other intents need it too, so this deny also stops them; remove {pattern!r} "
                f"({intent} already denies every operation that serves it)"
            )
        if actions <= expand_pattern(intent, grants=deny):
            return f"{pattern!r} in rule {rule.id!r} is already part of {intent}; remove it"
    return ""
