"""SPIFFE IDs as validated value objects (spiffe/spiffe standards/SPIFFE-ID.md), and the workload shape.

Parsed here, checks and wording as py-spiffe's `SpiffeId` (whose import, the whole `spiffe` package with
its Workload API client, pyOpenSSL and pyasn1, cost `meshgate serve` ~4 MiB of RSS) plus the rules it
relaxes: the scheme and the trust domain must be lowercase (it folds them), lengths are limited, and a
line break is never part of an ID (its `^...$` let one trail a segment or the trust domain). Errors are
`AuthenticationError(code="malformed_spiffe_id")`. Every credential kind names a Kubernetes workload
`spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`: `workload_id` builds it, nothing else does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from meshgate.errors import AuthenticationError
from meshgate.principal import k8snames
from meshgate.principal.codes import PrincipalCode, fail

SCHEME = "spiffe://"
MAX_ID_BYTES = 2048  # the spec's "MUST support"/"SHOULD NOT generate longer"; we reject longer.
MAX_TRUST_DOMAIN_BYTES = 255  # RFC 3986 host
_TRUST_DOMAIN = re.compile(r"[a-z0-9._-]+")
_SEGMENT = re.compile(r"[a-zA-Z0-9._-]+")


@dataclass(frozen=True, slots=True)
class SpiffeID:
    """A valid SPIFFE ID. Build it with `parse_spiffe_id`; `str()` gives the canonical URI."""

    trust_domain: str
    path: str  # "" for the trust domain's own ID, else "/seg/seg"

    def __str__(self) -> str:
        return f"{SCHEME}{self.trust_domain}{self.path}"

    def member_of(self, trust_domain: str) -> bool:
        return self.trust_domain == trust_domain


def parse_spiffe_id(raw: str) -> SpiffeID:
    """Parse strictly: lowercase scheme and trust domain, no query/fragment/port/userinfo/percent-encoding."""
    _check_length(raw)
    problem = _problem(raw)
    if problem:
        fail(PrincipalCode.MALFORMED_SPIFFE_ID, f"{raw!r} is not a SPIFFE ID: {problem}")
    trust_domain, slash, path = raw[len(SCHEME) :].partition("/")
    if len(trust_domain.encode()) > MAX_TRUST_DOMAIN_BYTES:
        fail(PrincipalCode.MALFORMED_SPIFFE_ID, f"trust domain longer than {MAX_TRUST_DOMAIN_BYTES} bytes")
    return SpiffeID(trust_domain, slash + path)


def _problem(raw: str) -> str | None:
    """What makes `raw` no SPIFFE ID, the first thing found in the order py-spiffe checks; None if valid."""
    if not raw:
        return "cannot be empty"
    if raw[: len(SCHEME)].lower() != SCHEME:
        return f"does not start with {SCHEME!r}"
    trust_domain, slash, path = raw[len(SCHEME) :].partition("/")
    if not trust_domain:
        return "trust domain cannot be empty"
    if not _TRUST_DOMAIN.fullmatch(trust_domain.lower()):
        return "trust domain contains disallowed characters"
    for segment in path.split("/") if slash else ():
        if not segment:
            return "path cannot contain empty segments"
        if segment in (".", ".."):
            return "path segments '.' and '..' are not allowed"
        if not _SEGMENT.fullmatch(segment):
            return "invalid character in path segment"
    if not raw.startswith(SCHEME) or trust_domain != trust_domain.lower():
        return "scheme and trust domain must be lowercase"
    return None


def workload_path(namespace: str, service_account: str) -> str:
    """The path of a workload's ID, `/ns/<ns>/sa/<sa>` (the parts may be patterns in policy subjects)."""
    return f"/ns/{namespace}/sa/{service_account}"


def workload_id(trust_domain: str, namespace: str, service_account: str) -> SpiffeID:
    """The canonical principal of a Kubernetes workload: `spiffe://<td>/ns/<ns>/sa/<sa>`."""
    path = workload_path(namespace, service_account)
    names = k8snames.is_namespace(namespace) and k8snames.is_service_account(service_account)
    if names and _is_trust_domain(trust_domain):  # Kubernetes names are valid path segments: no parse
        return SpiffeID(trust_domain, path)
    return parse_spiffe_id(f"{SCHEME}{trust_domain}{path}")


@lru_cache(maxsize=64)
def _is_trust_domain(name: str) -> bool:
    """True when `spiffe://<name>` is a valid trust domain ID (once per name: names come from config)."""
    try:
        return parse_spiffe_id(SCHEME + name) == SpiffeID(name, "")
    except AuthenticationError:
        return False


def _check_length(raw: str) -> None:
    if len(raw.encode()) > MAX_ID_BYTES:
        fail(PrincipalCode.MALFORMED_SPIFFE_ID, f"SPIFFE ID longer than {MAX_ID_BYTES} bytes")
