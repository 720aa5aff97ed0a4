"""`meshgate authenticate`: verify one credential with the service's own verifiers and print the principal.

A certificate chain goes through the same `X509SvidVerifier` the gRPC service builds (trust bundles, clock
skew and Linkerd naming from `--config`'s identity section, overridden by the flags); a token goes through
`authenticate_token_once` with the issuers of `--config`'s oidc section.

Exit codes follow `meshgate check`: 0 authenticated, 1 rejected (a stable code and a one-line reason),
2 the question could not be asked (bad arguments, unreadable files, invalid configuration).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import re
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from meshgate.cli import options
from meshgate.clock import Clock, FixedClock, SystemClock
from meshgate.config.service import ServiceConfig, load_config
from meshgate.errors import AuthenticationError, MeshgateError
from meshgate.identity import FileTrustBundles, X509SvidVerifier
from meshgate.identity.config import IdentityConfig
from meshgate.model import Identity
from meshgate.oidc import Fetcher, authenticate_token_once
from meshgate.principal.linkerd import LinkerdNaming

EXIT_OK, EXIT_REJECTED, EXIT_ERROR = 0, 1, 2
_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.DOTALL)


class UsageError(MeshgateError):
    """The arguments cannot form a question (missing configuration, unreadable input)."""

    code = "bad_arguments"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "authenticate", help="verify a certificate chain or a token and print the canonical principal"
    )
    credential = parser.add_mutually_exclusive_group(required=True)
    credential.add_argument(
        "--cert-chain", type=Path, metavar="FILE", help="PEM chain, leaf first (or one DER)"
    )
    credential.add_argument("--token", metavar="TOKEN", help="a JWT, used verbatim")
    credential.add_argument("--token-file", type=Path, metavar="FILE", help="a JWT file ('-': stdin)")
    options.add_config(parser, "service configuration (YAML): identity, oidc")
    parser.add_argument(
        "--trust-bundle",
        action="extend",
        nargs="+",
        default=[],
        metavar="[TD=]FILE",
        help="CA PEM file(s) as in identity.trust_bundles; replaces the configured bundles",
    )
    options.add_linkerd_naming(parser, defaults=False)
    parser.add_argument("--at", metavar="TIME", help="verify as of this ISO 8601 time (default: now)")
    options.add_output(parser, table="the principal, then its kind, issuer and expiry", json="one object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, *, fetcher: Fetcher | None = None) -> int:
    """`fetcher` replaces HTTP for the JWKS fetch (tests); the command line never sets it."""
    try:
        identity = authenticate(args, fetcher=fetcher)
    except AuthenticationError as rejected:
        return _report_error(args, rejected, EXIT_REJECTED)
    except MeshgateError as error:
        return _report_error(args, error, EXIT_ERROR)
    _report_identity(args, identity)
    return EXIT_OK


def authenticate(args: argparse.Namespace, *, fetcher: Fetcher | None = None) -> Identity:
    """The identity the credential in `args` proves; `AuthenticationError` when it proves none."""
    config = load_config(args.config)
    clock = _clock(args.at)
    if args.cert_chain is not None:
        return certificate_verifier(identity_config(args, config.identity), clock).verify(
            read_chain(args.cert_chain)
        )
    return _authenticate_token(config, _token(args), clock, fetcher)


def identity_config(args: argparse.Namespace, base: IdentityConfig) -> IdentityConfig:
    """The configured identity section with the command-line overrides applied."""
    naming = LinkerdNaming(
        control_plane_namespace=args.linkerd_control_plane_namespace or base.linkerd.control_plane_namespace,
        trust_domain=args.linkerd_trust_domain or base.linkerd.trust_domain,
    )
    bundles = tuple(args.trust_bundle) or base.trust_bundles
    return replace(base, trust_bundles=bundles, linkerd=naming)


def certificate_verifier(config: IdentityConfig, clock: Clock) -> X509SvidVerifier:
    """Built exactly as `meshgate.server.app.build_components` builds it (minus the cache)."""
    if not config.trust_bundles:
        raise UsageError("no trust bundle: pass --trust-bundle or a --config with identity.trust_bundles")
    bundles = FileTrustBundles.from_specs(config.trust_bundles, clock=clock)
    return X509SvidVerifier(bundles, clock, max_skew_seconds=config.max_skew_seconds, linkerd=config.linkerd)


def _authenticate_token(config: ServiceConfig, token: str, clock: Clock, fetcher: Fetcher | None) -> Identity:
    if not config.oidc.issuers:
        raise UsageError("no token issuer: pass a --config with oidc.issuers")
    oidc, superusers = config.oidc, config.policy.superusers
    return authenticate_token_once(
        oidc.issuers, token, clock, settings=oidc.settings, fetcher=fetcher, superusers=superusers
    )


def read_chain(path: Path) -> list[bytes]:
    """DER certificates from a PEM file (leaf first), or the whole file as one DER certificate.

    Undecodable PEM bodies go to the verifier as they are, so it reports them with its own code.
    """
    data = _read(path)
    blocks = _PEM_CERT.findall(data)
    if blocks:
        return [_pem_body(block) for block in blocks]
    if b"-----BEGIN" in data:
        raise UsageError(f"{path}: holds no CERTIFICATE block")
    return [data]


def _pem_body(block: bytes) -> bytes:
    try:
        return base64.b64decode(b"".join(block.split()), validate=True)
    except binascii.Error:
        return block


def _token(args: argparse.Namespace) -> str:
    if args.token is not None:
        return str(args.token)
    raw = sys.stdin.buffer.read() if str(args.token_file) == "-" else _read(args.token_file)
    try:
        return raw.decode("ascii").strip()
    except UnicodeDecodeError as err:
        raise UsageError(f"{args.token_file}: a token file holds ASCII text") from err


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise UsageError(f"{path}: cannot read: {err.strerror or err}") from err


def _clock(at: str | None) -> Clock:
    if at is None:
        return SystemClock()
    try:
        moment = datetime.fromisoformat(at)
    except ValueError as err:
        raise UsageError(f"--at {at!r}: not an ISO 8601 time") from err
    return FixedClock(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def identity_json(identity: Identity) -> dict[str, Any]:
    out: dict[str, Any] = {
        "principal": identity.principal,
        "kind": identity.kind.value,
        "expires_at": _timestamp(identity.expires_at),
        "issuer": identity.issuer,
    }
    if identity.delegation is not None:
        out["delegation"] = {
            "subject": identity.delegation.subject,
            "actors": list(identity.delegation.actors),
        }
    return out


def _timestamp(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _report_identity(args: argparse.Namespace, identity: Identity) -> None:
    if args.output == "json":
        print(json.dumps(identity_json(identity)))
        return
    print(identity.principal)
    print(f"kind: {identity.kind.value}")
    print(f"issuer: {identity.issuer}")
    print(f"expires_at: {_timestamp(identity.expires_at) or 'never'}")
    if identity.delegation is not None:
        print(f"acting_for: {identity.delegation.subject}")
        print(f"actors: {', '.join(identity.delegation.actors)}")


def _report_error(args: argparse.Namespace, error: MeshgateError, exit_code: int) -> int:
    reason = " ".join(error.message.split())
    if args.output == "json":
        print(json.dumps({"error": error.code, "reason": reason}))
    else:
        print(f"meshgate authenticate: {error.code}: {reason}", file=sys.stderr)
    return exit_code
