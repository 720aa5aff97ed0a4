"""The recipes of docs/identity.md and docs/oidc.md, read out of the pages as a reader would copy them.

A recipe snippet is the fenced block right after an HTML comment `<!-- recipe: NAME -->`. `config()` loads
one with meshgate's own configuration loader (as `meshgate serve` would), `policy()` one with
`load_policy`; both fail with the page and the snippet's name when the page no longer has it.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from meshgate.config.service import ServiceConfig, load_config
from meshgate.identity.config import IdentityConfig
from meshgate.policy import load_policy
from meshgate.policy.engine import PolicySnapshot
from meshgate.principal.linkerd import LinkerdNaming

DOCS = Path(__file__).resolve().parents[2] / "docs"
_SNIPPET = re.compile(r"<!-- recipe: (?P<name>[\w-]+) -->\n```(?:yaml)?\n(?P<body>.*?)```", re.DOTALL)


def snippet(page: str, name: str) -> str:
    found = {m["name"]: m["body"] for m in _SNIPPET.finditer((DOCS / page).read_text("utf-8"))}
    assert name in found, f"docs/{page} has no snippet <!-- recipe: {name} --> (it has {sorted(found)})"
    return found[name]


def config(page: str, name: str, tmp_path: Path) -> ServiceConfig:
    path = tmp_path / f"{name}.yaml"
    path.write_text(snippet(page, name), "utf-8")
    return load_config(path, env={})


def policy(page: str, name: str, tmp_path: Path, naming: LinkerdNaming | None = None) -> PolicySnapshot:
    folder = tmp_path / f"{name}-policy"
    folder.mkdir()
    (folder / "recipe.yaml").write_text(snippet(page, name), "utf-8")
    return load_policy(folder, naming=naming or LinkerdNaming())


def with_bundle_file(identity: IdentityConfig, ca_file: Path) -> IdentityConfig:
    """The recipe's one `TRUST_DOMAIN=FILE` bundle with the file swapped for the fixture's CA."""
    assert len(identity.trust_bundles) == 1, identity.trust_bundles
    domain, sep, _ = identity.trust_bundles[0].rpartition("=")
    assert sep, f"{identity.trust_bundles[0]}: the recipe must name its trust domain"
    return replace(identity, trust_bundles=(f"{domain}={ca_file}",))
