"""Linkerd's DNS-form workload identity and its mapping to the canonical SPIFFE principal.

Linkerd's identity controller issues pod certificates with exactly one DNS SAN,
`<sa>.<ns>.serviceaccount.identity.<control-plane-ns>.<trust-domain>`, and no URI SAN. meshgate names the same
workload `spiffe://<trust-domain>/ns/<ns>/sa/<sa>` whichever credential proved it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from meshgate.errors import AuthenticationError, ConfigError
from meshgate.identity.spiffeid import SpiffeID, parse_trust_domain, workload_id

# A Kubernetes namespace is an RFC 1123 label; a service-account name is a DNS subdomain (dots allowed), so
# the namespace is the last label before the suffix and the service account is everything before it.
_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")


@dataclass(frozen=True, slots=True)
class LinkerdNaming:
    """Where Linkerd's identity names live: its control-plane namespace and the mesh trust domain."""

    control_plane_namespace: str = "linkerd"
    trust_domain: str = "cluster.local"

    def __post_init__(self) -> None:
        if not _LABEL.match(self.control_plane_namespace):
            raise ConfigError(
                f"linkerd.control_plane_namespace: {self.control_plane_namespace!r} is not a namespace"
            )
        try:
            parse_trust_domain(self.trust_domain)
        except AuthenticationError as err:
            raise ConfigError(f"linkerd.trust_domain: {err.message}") from err

    @property
    def suffix(self) -> str:
        return f".serviceaccount.identity.{self.control_plane_namespace}.{self.trust_domain}"

    def dns_name(self, namespace: str, service_account: str) -> str:
        """The DNS-form identity Linkerd gives a workload (what its certificate's DNS SAN holds)."""
        return f"{service_account}.{namespace}{self.suffix}"

    def to_spiffe(self, name: str) -> SpiffeID | None:
        """The canonical ID for a DNS-form identity, or None when `name` is not one of this mesh's names."""
        name = name.lower().rstrip(".")
        if not name.endswith(self.suffix):
            return None
        service_account, _, namespace = name[: -len(self.suffix)].rpartition(".")
        if not (_LABEL.match(namespace) and _SUBDOMAIN.match(service_account)):
            return None
        return workload_id(self.trust_domain, namespace, service_account)
