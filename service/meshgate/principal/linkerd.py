"""Linkerd's DNS-form workload identities, and their mapping to the canonical SPIFFE principal.

Linkerd's identity controller issues pod certificates with exactly one DNS SAN,
`<sa>.<ns>.serviceaccount.identity.<control-plane-ns>.<trust-domain>`, and no URI SAN. meshgate names the same
workload `spiffe://<trust-domain>/ns/<ns>/sa/<sa>` whichever credential proved it. Names arrive in
credentials (`LinkerdNaming.to_spiffe`: one exact name or None) and in policies (`linkerd_to_spiffe`: a
name or a Linkerd pattern, `*` or `*.suffix`, translated once to a SPIFFE ID or pattern; errors are
`PolicyError`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from meshgate.errors import ConfigError, PolicyError
from meshgate.principal import k8snames
from meshgate.principal.spiffeid import SCHEME, SpiffeID, workload_id, workload_path
from meshgate.principal.trustdomain import trust_domain_setting

MARKER = ".serviceaccount.identity."


@dataclass(frozen=True, slots=True)
class LinkerdNaming:
    """Where Linkerd's identity names live: its control-plane namespace and the mesh trust domain."""

    # Config keys `identity.linkerd.*`: their descriptions are field metadata, as every config key's.
    control_plane_namespace: str = field(
        default="linkerd",
        metadata={"description": "Namespace of Linkerd's control plane, part of its identity names."},
    )
    trust_domain: str = field(
        default="cluster.local",
        metadata={"description": "The mesh's trust domain (Linkerd `identityTrustDomain`)."},
    )

    def __post_init__(self) -> None:
        if not k8snames.is_namespace(self.control_plane_namespace):
            raise ConfigError(
                f"linkerd.control_plane_namespace: {self.control_plane_namespace!r} is not a namespace"
            )
        trust_domain_setting(self.trust_domain, "linkerd.trust_domain")

    @property
    def suffix(self) -> str:
        return f"{MARKER}{self.control_plane_namespace}.{self.trust_domain}"

    def dns_name(self, namespace: str, service_account: str) -> str:
        """The DNS-form identity Linkerd gives a workload (what its certificate's DNS SAN holds)."""
        return f"{service_account}.{namespace}{self.suffix}"

    def to_spiffe(self, name: str) -> SpiffeID | None:
        """The canonical ID for a DNS-form identity, or None when `name` is not one of this mesh's names."""
        name = name.lower().rstrip(".")
        if not name.endswith(self.suffix):
            return None
        service_account, _, namespace = name[: -len(self.suffix)].rpartition(".")
        if not (k8snames.is_namespace(namespace) and k8snames.is_service_account(service_account)):
            return None
        return workload_id(self.trust_domain, namespace, service_account)


def linkerd_to_spiffe(name: str, naming: LinkerdNaming) -> str:
    """Translate a Linkerd identity name or pattern (`*`, `*.suffix`) to a SPIFFE ID or pattern.

    A full name carries its own trust domain; `naming` is needed only for `*` and short suffixes."""
    name = name.lower().rstrip(".")
    if MARKER in name:
        head, tail = name.split(MARKER, 1)
        _, _, trust_domain = tail.partition(".")
        if not trust_domain:
            raise PolicyError(f"{name!r} is not a Linkerd identity: it has no trust domain")
        sa, ns = _head(name, head)
        return SCHEME + trust_domain + workload_path(ns, sa)
    suffix = naming.suffix[1:]
    if name == "*" or (name.startswith("*.") and (suffix == name[2:] or suffix.endswith("." + name[2:]))):
        return SCHEME + naming.trust_domain + workload_path("*", "*")
    raise PolicyError(
        f"{name!r} does not name Linkerd identities of control plane {naming.control_plane_namespace!r} "
        f"in trust domain {naming.trust_domain!r}"
    )


def _head(name: str, head: str) -> tuple[str, str]:
    """(sa, ns) of the part before `.serviceaccount.identity.`: `sa.ns`, `*.ns` or `*`."""
    if head == "*":
        return "*", "*"
    sa, _, ns = head.rpartition(".")
    if not sa or not ns or "*" in ns or ("*" in sa and sa != "*"):
        raise PolicyError(f"{name!r} is not a Linkerd identity: expected <sa>.<ns>{MARKER}<cp>.<td>")
    return sa, ns
