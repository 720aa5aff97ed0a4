"""The kinds of credential a principal can come from."""

from __future__ import annotations

from enum import StrEnum


class CredentialKind(StrEnum):
    X509_SVID = "x509_svid"  # SPIFFE URI SAN in a client certificate
    LINKERD_CERT = "linkerd_cert"  # Linkerd DNS-form identity in a client certificate
    L5D_HEADER = "l5d_header"  # l5d-client-id header from the local Linkerd proxy (HTTP only)
    OIDC = "oidc"  # JWT from an SSO issuer
    K8S_SA_TOKEN = "k8s_sa_token"  # projected Kubernetes service-account token
    ROLE = "role"  # a plain Pulsar role from another provider, not verified by meshgate
