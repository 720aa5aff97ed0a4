"""The canonical principal: one home for how meshgate names a caller, whichever credential proved it.

A workload's principal is `spiffe://<trust-domain>/ns/<ns>/sa/<sa>`. This package holds the rules every
other package imports instead of restating: SPIFFE IDs (`spiffeid`), trust domain names (`trustdomain`),
Linkerd names and patterns and their SPIFFE form (`linkerd`), Kubernetes names (`k8snames`) and the
credential kinds (`kinds`). It imports nothing of meshgate's but `errors`.
"""

from meshgate.principal.codes import PrincipalCode
from meshgate.principal.kinds import CredentialKind
from meshgate.principal.linkerd import LinkerdNaming, linkerd_to_spiffe
from meshgate.principal.spiffeid import SCHEME, SpiffeID, parse_spiffe_id, workload_id
from meshgate.principal.trustdomain import parse_trust_domain, trust_domain_setting

__all__ = [
    "SCHEME",
    "CredentialKind",
    "LinkerdNaming",
    "PrincipalCode",
    "SpiffeID",
    "linkerd_to_spiffe",
    "parse_spiffe_id",
    "parse_trust_domain",
    "trust_domain_setting",
    "workload_id",
]
