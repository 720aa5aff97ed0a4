"""`meshgate config-reference`: every configuration key, as the page docs/configuration.md or as JSON."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

from meshgate.cli import options
from meshgate.config.reference import keys, render_markdown


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("config-reference", help="print every configuration key")
    options.add_output(parser, table="the Markdown page, a table per section", json="a list of keys")
    parser.add_argument("--out", type=Path, metavar="FILE", help="write here instead of standard output")
    parser.set_defaults(func=run)


def _json() -> str:
    return json.dumps([dataclasses.asdict(key) | {"env": key.env} for key in keys()], indent=2) + "\n"


def run(args: argparse.Namespace) -> int:
    page = _json() if args.output == "json" else render_markdown()
    if args.out:
        args.out.write_text(page)
    else:
        print(page, end="")
    return 0
