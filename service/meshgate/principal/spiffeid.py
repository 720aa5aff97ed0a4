"""SPIFFE IDs as validated value objects (spiffe/spiffe standards/SPIFFE-ID.md), and the workload shape.

Parsing is py-spiffe's `SpiffeId`; this module adds the rules it relaxes (it lowercases the scheme and the
trust domain instead of rejecting them, and has no length limits) and turns its errors into
`AuthenticationError(code="malformed_spiffe_id")`. Every credential kind names a Kubernetes workload
`spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`: `workload_id` builds it, nothing else does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from spiffe import SpiffeId
from spiffe.errors import PySpiffeError

from meshgate.errors import AuthenticationError
from meshgate.principal import k8snames
from meshgate.principal.codes import PrincipalCode, fail

SCHEME = "spiffe://"
MAX_ID_BYTES = 2048  # the spec's "MUST support"/"SHOULD NOT generate longer"; we reject longer.
MAX_TRUST_DOMAIN_BYTES = 255  # RFC 3986 host


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
    try:
        parsed = SpiffeId(raw)
    except PySpiffeError as err:
        fail(PrincipalCode.MALFORMED_SPIFFE_ID, f"{raw!r} is not a SPIFFE ID: {_detail(raw, err)}")
    if str(parsed) != raw:
        fail(
            PrincipalCode.MALFORMED_SPIFFE_ID,
            f"{raw!r} is not a SPIFFE ID: scheme and trust domain must be lowercase",
        )
    trust_domain = parsed.trust_domain.name
    if len(trust_domain.encode()) > MAX_TRUST_DOMAIN_BYTES:
        fail(PrincipalCode.MALFORMED_SPIFFE_ID, f"trust domain longer than {MAX_TRUST_DOMAIN_BYTES} bytes")
    return SpiffeID(trust_domain, parsed.path)


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


def _detail(raw: str, err: PySpiffeError) -> str:
    """py-spiffe's reason without its "Invalid SPIFFE ID '<raw>': " wrapper, on one line."""
    text = str(err).removeprefix(f"Invalid SPIFFE ID '{raw}': ").removeprefix("Invalid SPIFFE ID: ")
    text = re.sub(r"^Invalid trust domain( '[^']*')?: ", "trust domain ", text)
    return " ".join(text.split())
