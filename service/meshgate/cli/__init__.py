"""The `meshgate` command. Each subcommand lives in its own module and registers itself here."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Each command and the module that defines `register(subparsers)` for it; a module adds its commands with
# `set_defaults(func=...)`, where func(args) returns the process exit code. `meshgate <command>` loads
# only its command's module (`serve` need not carry the policy diff, the report renderer or the audit
# reader: ~1 MiB of RSS); help and unknown commands load them all.
COMMANDS = {
    "serve": "meshgate.cli.serve",
    "authenticate": "meshgate.cli.authenticate",
    "check": "meshgate.cli.policy",
    "who-can": "meshgate.cli.policy",
    "validate": "meshgate.cli.policy",
    "test": "meshgate.cli.policy",
    "diff": "meshgate.cli.policy",
    "report": "meshgate.cli.report",
    "config-reference": "meshgate.cli.config_ref",
    "audit": "meshgate.cli.audit",
}
_COMMAND_MODULES = tuple(dict.fromkeys(COMMANDS.values()))


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line; for a known `command`, with only the commands of its module."""
    parser = argparse.ArgumentParser(
        prog="meshgate", description="Identity-aware authorization for Apache Pulsar in a service mesh."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules = (COMMANDS[command],) if command in COMMANDS else _COMMAND_MODULES
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue  # a command module not written yet
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv[0] if argv else None).parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
