"""The identity recipes of docs/identity.md: each snippet loads with meshgate's loaders, a certificate shaped
like the one the system issues authenticates to the principal the recipe promises, and its rule decides as
the page says. The systems themselves (cert-manager's csi-driver-spiffe, Linkerd) cannot run here; SPIRE
runs for real in tests/e2e/test_spire_e2e.py, this checks its snippets."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from meshgate.cli.authenticate import certificate_verifier
from meshgate.clock import FixedClock
from meshgate.identity import StaticTrustBundles, X509SvidVerifier
from meshgate.model import AccessRequest, CredentialKind
from meshgate.policy.engine import PolicySnapshot
from meshgate.policy.resources import parse_resource

from devtools.devca import DevCA, Issued, LeafSpec, pem_bundle
from tests.support import recipes

from .helpers import NOW, der

PAGE = "identity.md"
ORDERS = "persistent://acme/payments/orders"
# Key Encipherment + Digital Signature, as cert-manager's approver and Linkerd's CA put on their leaves.
SIGN_AND_ENCIPHER = x509.KeyUsage(True, False, True, False, False, False, False, False, False)
BOTH_AUTH = (ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH)


def _ca_file(tmp_path: Path, ca: DevCA) -> Path:
    path = tmp_path / "ca.pem"
    path.write_bytes(pem_bundle([ca.root().cert]))
    return path


def _chain(leaf: Issued, issuer: DevCA) -> list[bytes]:
    """What the client presents: its leaf, then the intermediates (Linkerd: the identity issuer)."""
    return der([leaf.cert, *issuer.chain()])


def _decides(policy: PolicySnapshot, principal: str, action: str, resource: str) -> str:
    return policy.decide(AccessRequest(principal, action, parse_resource(resource), "s")).reason_code


def test_csi_driver_spiffe_recipe(tmp_path: Path) -> None:
    config = recipes.config(PAGE, "csi-driver-spiffe-config", tmp_path)
    ca = DevCA("csi-driver-spiffe-ca", now=NOW)  # the example ClusterIssuer's self-signed CA
    svid = ca.issue(
        LeafSpec(
            uris=["spiffe://my.trust.domain/ns/payments/sa/api"],  # the only name; empty subject
            key_usage="none",
            extra_extensions=[(SIGN_AND_ENCIPHER, True)],
            eku=BOTH_AUTH,
            not_after=NOW + timedelta(hours=1),  # the approver's enforced duration
        )
    )
    identity_config = recipes.with_bundle_file(config.identity, _ca_file(tmp_path, ca))
    identity = certificate_verifier(identity_config, FixedClock(NOW)).verify(_chain(svid, ca))
    assert identity.principal == "spiffe://my.trust.domain/ns/payments/sa/api"
    assert identity.kind is CredentialKind.X509_SVID
    policy = recipes.policy(PAGE, "csi-driver-spiffe-policy", tmp_path)
    assert _decides(policy, identity.principal, "topic.produce", ORDERS) == "allowed_by_rule"
    other = "persistent://acme/payments/refunds"
    assert _decides(policy, identity.principal, "topic.produce", other) == "no_matching_rule"


def test_linkerd_recipe(tmp_path: Path) -> None:
    config = recipes.config(PAGE, "linkerd-config", tmp_path)
    anchor = DevCA("root.linkerd.cluster.local", now=NOW)
    issuer = anchor.intermediate("identity.linkerd.cluster.local")
    name = "api.payments.serviceaccount.identity.linkerd.cluster.local"
    proxy = issuer.issue(
        LeafSpec(
            dns=[name],
            common_name=name,
            san_critical=False,
            key_usage="none",
            extra_extensions=[(SIGN_AND_ENCIPHER, True)],
            eku=(ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH),
            not_after=NOW + timedelta(hours=24),
        )
    )
    identity_config = recipes.with_bundle_file(config.identity, _ca_file(tmp_path, anchor))
    identity = certificate_verifier(identity_config, FixedClock(NOW)).verify(_chain(proxy, issuer))
    assert identity.principal == "spiffe://cluster.local/ns/payments/sa/api"
    assert identity.kind is CredentialKind.LINKERD_CERT
    policy = recipes.policy(PAGE, "linkerd-policy", tmp_path)
    assert _decides(policy, identity.principal, "topic.consume", ORDERS) == "allowed_by_rule"
    assert _decides(policy, identity.principal, "topic.produce", ORDERS) == "no_matching_rule"


def test_spire_recipe(tmp_path: Path) -> None:
    """The Workload API configuration loads; the bundle it would stream is handed over directly."""
    config = recipes.config(PAGE, "spire-config", tmp_path)
    assert config.identity.workload_api.enabled and config.identity.trust_bundles == ()
    assert config.identity.workload_api.socket == "unix:///run/spire/sockets/agent.sock"
    ca = DevCA("SPIRE server CA", uri_sans=["spiffe://example.org"], now=NOW)  # SPIRE names its domain
    svid = ca.issue_svid("spiffe://example.org/ns/payments/sa/writer", not_after=NOW + timedelta(hours=1))
    bundles = StaticTrustBundles({"example.org": [ca.cert]})
    verifier = X509SvidVerifier(bundles, FixedClock(NOW), linkerd=config.identity.linkerd)
    identity = verifier.verify(_chain(svid, ca))
    assert identity.principal == "spiffe://example.org/ns/payments/sa/writer"
    policy, topic = recipes.policy(PAGE, "spire-policy", tmp_path), "persistent://acme/payments/invoices"
    assert _decides(policy, identity.principal, "topic.produce", topic) == "allowed_by_rule"
    assert _decides(policy, identity.principal, "topic.consume", topic) == "no_matching_rule"
