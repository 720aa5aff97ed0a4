"""The options several `meshgate` commands share, spelled once so every command spells them alike.

| option | what | on |
|---|---|---|
| `--output table|json` | how the command prints its answer | every command |
| `--policy DIR` | the policy folder | every command that reads one |
| `--config FILE` | the service configuration (YAML) | every command that reads one |
| `--superuser P` | a configured super-user (repeat) | the policy commands (*) |
| `--linkerd-trust-domain TD` | the Linkerd trust domain | the policy commands, `authenticate` |
| `--linkerd-control-plane-namespace NS` | Linkerd's control-plane namespace | the same |

(*) check, who-can, validate, test, diff, report.

Older spellings stay as hidden aliases (`--json`, `--trust-domain`, `--control-plane-namespace`,
`--linkerd-control-plane-ns`, a policy folder given as the positional argument of `validate` and `test`,
`diff --repo`): they work, `--help` no longer shows them. `tests/unit/cli/test_cli_options.py` walks every
subcommand's parser and holds each one to this table.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from meshgate.config.service import load_config
from meshgate.principal.linkerd import LinkerdNaming

OUTPUTS = ("table", "json")
_DEFAULT_NAMING = LinkerdNaming()


def add_output(parser: argparse.ArgumentParser, *, table: str, json: str) -> None:
    """`--output table|json` (default table), and the hidden `--json` it replaces."""
    parser.add_argument(
        "--output", choices=OUTPUTS, default="table", help=f"table: {table} (default); json: {json}"
    )
    parser.add_argument("--json", dest="output", action="store_const", const="json", help=argparse.SUPPRESS)


def add_policy(
    parser: argparse.ArgumentParser, *, required: bool = True, help: str = "policy folder"
) -> None:
    parser.add_argument("--policy", type=Path, required=required, metavar="DIR", help=help)


def add_config(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--config", type=Path, metavar="FILE", help=help)


def add_linkerd_naming(parser: argparse.ArgumentParser, *, defaults: bool = True) -> None:
    """`--linkerd-trust-domain`, `--linkerd-control-plane-namespace`; without `defaults` they are None
    when not given (a command that reads `--config` then keeps the configured naming)."""
    domain = _DEFAULT_NAMING.trust_domain if defaults else None
    namespace = _DEFAULT_NAMING.control_plane_namespace if defaults else None
    parser.add_argument(
        "--linkerd-trust-domain",
        default=domain,
        metavar="TD",
        help=f"Linkerd trust domain (default: {domain or 'identity.linkerd.trust_domain of --config'})",
    )
    parser.add_argument(
        "--linkerd-control-plane-namespace",
        default=namespace,
        metavar="NS",
        help="Linkerd control-plane namespace "
        f"(default: {namespace or 'identity.linkerd.control_plane_namespace of --config'})",
    )
    for old, dest in (
        ("--trust-domain", "linkerd_trust_domain"),
        ("--control-plane-namespace", "linkerd_control_plane_namespace"),
        ("--linkerd-control-plane-ns", "linkerd_control_plane_namespace"),
    ):
        parser.add_argument(old, dest=dest, help=argparse.SUPPRESS)


def add_superuser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--superuser", action="append", default=[], metavar="P", help="a configured super-user (repeat)"
    )


def add_policy_context(parser: argparse.ArgumentParser) -> None:
    """What a policy compiles with: `--config` (its naming and super-users), else the flags."""
    add_config(parser, "service configuration (YAML): its Linkerd naming and super-users replace the flags")
    add_superuser(parser)
    add_linkerd_naming(parser)


def naming(args: argparse.Namespace) -> LinkerdNaming:
    return LinkerdNaming(
        trust_domain=args.linkerd_trust_domain, control_plane_namespace=args.linkerd_control_plane_namespace
    )


def policy_context(args: argparse.Namespace) -> tuple[LinkerdNaming, tuple[str, ...]]:
    """Linkerd naming and super-users: from `--config` (checked as start-up checks it), else the flags.
    Raises `ConfigError` for a configuration `meshgate serve` would refuse."""
    if args.config is None:
        return naming(args), tuple(args.superuser)
    config = load_config(args.config)
    return config.identity.linkerd, config.policy.superusers
