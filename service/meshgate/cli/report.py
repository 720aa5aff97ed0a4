"""`meshgate report`: the full access matrix of a policy folder, as a table or JSON, and optionally an HTML
page (docs/operations.md shows one).

Exit codes as the policy commands: 0 printed, 2 the folder (or `--config`) could not be loaded.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from meshgate.cli import options
from meshgate.errors import MeshgateError
from meshgate.policy import load_policy
from meshgate.report.html import render_html
from meshgate.report.matrix import build_matrix
from meshgate.report.render import render_text
from meshgate.report.summary import matrix_json


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("report", help="who may do what where: the access matrix of a policy")
    options.add_policy(parser)
    options.add_policy_context(parser)
    parser.add_argument("--html", type=Path, metavar="FILE", help="also write the HTML page here")
    options.add_output(
        parser, table="per subject, a line per resource and effect", json="every row, action and rule"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        naming, superusers = options.policy_context(args)
        snapshot = load_policy(args.policy, superusers=superusers, naming=naming)
    except MeshgateError as err:
        print(f"meshgate report: {err}", file=sys.stderr)
        return 2
    matrix = build_matrix(snapshot)
    if args.output == "json":
        print(json.dumps(matrix_json(matrix), indent=2))
    else:
        print(render_text(matrix), end="")
    if args.html:
        args.html.write_text(render_html(matrix), encoding="utf-8")
        print(f"wrote {args.html}", file=sys.stderr if args.output == "json" else sys.stdout)
    return 0
