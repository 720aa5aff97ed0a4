"""The `policy` config section: each field's default and description, its parser, and the check that no
configured super-user could be forged by a token."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from meshgate.config import fields as c
from meshgate.errors import ConfigError
from meshgate.principal.kinds import superuser_problem


@dataclass(frozen=True)
class PolicyConfig:
    dir: Path = c.setting(
        Path("policies"),
        "Folder of policy YAML files and their `*_test.yaml` suites (a git-sync checkout).",
        yaml_default="policies",  # relative to the config file's folder
    )
    superusers: tuple[str, ...] = c.setting(
        (),
        "Principals allowed everything, e.g. the broker's own identity; never an SSO principal `oidc:...` "
        "(see docs/policy.md).",
    )
    watch: bool = c.setting(
        True, "Reload the folder when it changes (compile, run the suites, then swap); false loads once."
    )
    require_at_start: bool = c.setting(
        False, "No valid policy at start-up is fatal; by default serve waits for one, denying all."
    )


def parse_policy_config(raw: Mapping[str, object], base: Path) -> PolicyConfig:
    c.reject_unknown(raw, c.names(PolicyConfig), "policy")
    folder = c.get_str(raw, "dir", "policy", c.default_of(c.field_of(PolicyConfig, "dir")))
    return PolicyConfig(
        dir=base / folder,
        superusers=_superusers(raw),
        **c.read_all(PolicyConfig, raw, "policy", but=("dir", "superusers")),
    )


def _superusers(raw: Mapping[str, object]) -> tuple[str, ...]:
    superusers: tuple[str, ...] = c.read(PolicyConfig, raw, "policy", "superusers")
    for i, superuser in enumerate(superusers):
        problem = superuser_problem(superuser)
        if problem:
            raise ConfigError(f"policy.superusers[{i}]: {problem}")
    return superusers
