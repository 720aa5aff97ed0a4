"""Two SSO issuers may share no principal unless their templates make that impossible.

An SSO issuer's principal is its `principal` template rendered with the token's claims
(`meshgate.oidc.principal`). Two issuers whose templates can render one string make a user of one IdP that
principal at the other: with `oidc:{email}` at both, whoever can choose an address at one IdP is that
person at the other. Start-up (and `meshgate validate --config`) refuses such a pair unless the templates
are provably disjoint, read from their text alone:

- `{iss}` is the issuer's own name (a token is matched to its issuer by exact `iss`), so it counts as
  fixed text; any other claim may be any non-empty text;
- two templates are disjoint when their fixed starts differ (neither begins the other), or their fixed ends
  differ (neither ends the other); a template whose only placeholder is `{iss}` renders one fixed string.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from meshgate.errors import ConfigError
from meshgate.oidc.principal import PrincipalRule

_ISS = "iss"


@dataclass(frozen=True, slots=True)
class Shape:
    """What every rendering of one issuer's template shares: its fixed start and end, and whether any
    placeholder but `{iss}` varies it at all (`fixed`: `start` is then the only string it renders)."""

    start: str
    end: str
    fixed: bool


def shape_of(rule: PrincipalRule, issuer: str) -> Shape:
    runs = [rule.literals[0]]  # the fixed runs between the placeholders that vary
    for claim, literal in zip(rule.claims, rule.literals[1:], strict=True):
        if claim == _ISS:
            runs[-1] += issuer + literal
        else:
            runs.append(literal)
    return Shape(runs[0], runs[-1], fixed=len(runs) == 1)


def may_share(a: Shape, b: Shape) -> bool:
    """False only when no rendering of `a` can equal one of `b`."""
    if a.fixed and b.fixed:
        return a.start == b.start
    if a.fixed or b.fixed:
        text, shape = (a.start, b) if a.fixed else (b.start, a)
        return _fits(text, shape)
    starts = a.start.startswith(b.start) or b.start.startswith(a.start)
    ends = a.end.endswith(b.end) or b.end.endswith(a.end)
    return starts and ends


def _fits(text: str, shape: Shape) -> bool:
    """Whether `text` could be a rendering of `shape` (at least one non-empty claim in the middle)."""
    room = len(text) > len(shape.start) + len(shape.end)
    return room and text.startswith(shape.start) and text.endswith(shape.end)


def check_sso_principals(issuers: Sequence[tuple[int, str, PrincipalRule]], where: str) -> None:
    """`issuers`: each SSO issuer's index in the list, name and principal rule; errors name both."""
    shapes = [(i, issuer, rule, shape_of(rule, issuer)) for i, issuer, rule in issuers]
    for position, (i, issuer, rule, shape) in enumerate(shapes):
        for j, earlier, earlier_rule, earlier_shape in shapes[:position]:
            if may_share(earlier_shape, shape):
                raise ConfigError(_overlap(where, (j, earlier, earlier_rule), (i, issuer, rule)))


def _overlap(
    where: str, first: tuple[int, str, PrincipalRule], second: tuple[int, str, PrincipalRule]
) -> str:
    (i, a, rule_a), (j, b, rule_b) = first, second
    return (
        f"{where}[{j}] ({b!r}) and {where}[{i}] ({a!r}) are SSO issuers whose principal templates "
        f"{rule_b.source!r} and {rule_a.source!r} can render the same principal, so a user of one IdP would "
        f"be that principal at the other: put {{iss}} right after 'oidc:' in both, as the default does "
        f'(principal: "oidc:{{iss}}#{{sub}}"), or give each its own fixed start that does not begin the '
        f'other\'s, e.g. "oidc:corp/{{sub}}" and "oidc:partners/{{sub}}"'
    )
