"""`meshgate config-reference`: print the configuration reference (docs/configuration.md) as Markdown."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from meshgate.config_reference import render_markdown


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("config-reference", help="print every configuration key as Markdown")
    parser.add_argument("--output", type=Path, help="write to this file instead of standard output")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    page = render_markdown()
    if args.output:
        args.output.write_text(page)
    else:
        print(page, end="")
    return 0
