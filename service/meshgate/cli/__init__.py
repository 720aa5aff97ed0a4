"""The `meshgate` command. Each subcommand lives in its own module and registers itself here."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Modules that define `register(subparsers)`; each adds its subcommands with `set_defaults(func=...)`,
# where func(args) returns the process exit code.
_COMMAND_MODULES = (
    "meshgate.cli.serve",
    "meshgate.cli.authenticate",
    "meshgate.cli.policy",
    "meshgate.cli.report",
    "meshgate.cli.config_ref",
    "meshgate.cli.audit",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="meshgate", description="Identity-aware authorization for Apache Pulsar in a service mesh."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue  # a command module not written yet
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
