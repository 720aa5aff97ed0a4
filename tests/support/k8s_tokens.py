"""Projected Kubernetes service-account tokens for the end-to-end tests, as the kubelet mounts them.

The e2e meshgate trusts a Kubernetes-style issuer (tests/e2e/conftest.py) whose JWKS holds the conformance
key `k8s1`. `system:serviceaccount:<ns>:<sa>` maps to spiffe://meshgate.test/ns/<ns>/sa/<sa>, so one policy
covers a workload's certificate and its token.
"""

from __future__ import annotations

import time

from tests.conformance.oidc.mint import mint, signing_keys

K8S_ISSUER = "https://kubernetes.meshgate.test"
K8S_KEY = "k8s1"


def service_account_token(
    ns: str, sa: str, *, expires_in: int = 600, issuer: str = K8S_ISSUER, key: str = K8S_KEY
) -> str:
    """A token for `ns/sa` with audience pulsar, signed by the conformance key `key`."""
    signer = signing_keys()[key]
    now = int(time.time())
    claims = {
        "iss": issuer,
        "sub": f"system:serviceaccount:{ns}:{sa}",
        "aud": ["pulsar"],
        "iat": now - 5,
        "nbf": now - 5,
        "exp": now + expires_in,
        "kubernetes.io": {"namespace": ns, "serviceaccount": {"name": sa}},
    }
    return mint(signer, {"alg": signer.alg, "typ": "JWT", "kid": signer.kid}, claims)


def sa_token(sa: str, *, expires_in: int = 600, issuer: str = K8S_ISSUER, key: str = K8S_KEY) -> str:
    """A token for `payments/<sa>`, the namespace of the e2e policies."""
    return service_account_token("payments", sa, expires_in=expires_in, issuer=issuer, key=key)
