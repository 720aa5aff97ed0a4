"""`meshgate report`: the full access matrix of a policy folder, as a table and optionally an HTML page.

Exit codes as the policy commands: 0 printed, 2 the folder could not be loaded.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from meshgate.errors import MeshgateError
from meshgate.policy import load_policy
from meshgate.principal.linkerd import LinkerdNaming
from meshgate.report.matrix import build_matrix
from meshgate.report.render import render_html, render_text


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("report", help="who may do what where: the access matrix of a policy")
    parser.add_argument("--policy", type=Path, required=True, help="policy folder")
    parser.add_argument("--html", type=Path, help="also write the matrix as an HTML page here")
    parser.add_argument("--superuser", action="append", default=[], help="a configured super-user (repeat)")
    parser.add_argument(
        "--trust-domain", default="cluster.local", help="mesh trust domain (Linkerd subjects)"
    )
    parser.add_argument(
        "--control-plane-namespace", default="linkerd", help="Linkerd control-plane namespace"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        naming = LinkerdNaming(
            trust_domain=args.trust_domain, control_plane_namespace=args.control_plane_namespace
        )
        snapshot = load_policy(args.policy, superusers=args.superuser, naming=naming)
    except MeshgateError as err:
        print(f"meshgate report: {err}", file=sys.stderr)
        return 2
    matrix = build_matrix(snapshot)
    print(render_text(matrix), end="")
    if args.html:
        args.html.write_text(render_html(matrix), encoding="utf-8")
        print(f"\nwrote {args.html}")
    return 0
