"""X509SvidVerifier: the Identity it returns and the exact one-line message of each failure.

The conformance table (tests/conformance/x509) covers the breadth of certificate shapes; this file pins the
messages, the returned fields and the parts the table cannot express.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from meshgate.clock import FixedClock
from meshgate.errors import AuthenticationError
from meshgate.identity import IdentityCode, StaticTrustBundles, X509SvidVerifier
from meshgate.model import CredentialKind
from meshgate.principal import LinkerdNaming

from devtools.devca import DevCA, LeafSpec

from .helpers import API, NOW, der


def verifier(ca: DevCA, clock: FixedClock, **kwargs: object) -> X509SvidVerifier:
    bundles = StaticTrustBundles({"example.org": [ca.root().cert], "cluster.local": [ca.root().cert]})
    return X509SvidVerifier(bundles, clock, **kwargs)  # type: ignore[arg-type]


def failure(v: X509SvidVerifier, chain: list[bytes]) -> tuple[str, str]:
    with pytest.raises(AuthenticationError) as caught:
        v.verify(chain)
    return caught.value.code, caught.value.message


def test_identity_fields_for_an_svid(ca: DevCA, clock: FixedClock) -> None:
    intermediate = ca.intermediate(not_after=NOW + timedelta(hours=2), uri_sans=["spiffe://example.org"])
    leaf = intermediate.issue_svid(API)
    identity = verifier(ca, clock).verify(der([leaf.cert, intermediate.cert]))
    assert identity.principal == API
    assert identity.kind is CredentialKind.X509_SVID
    assert identity.issuer == "example.org"
    assert identity.expires_at == NOW + timedelta(hours=2)  # the intermediate ends before the leaf


def test_identity_fields_for_a_linkerd_cert(clock: FixedClock) -> None:
    anchor = DevCA("root.linkerd.cluster.local", now=NOW)
    name = LinkerdNaming().dns_name("payments", "api")
    leaf = anchor.issue(LeafSpec(dns=[name], common_name=name, san_critical=False))
    identity = verifier(anchor, clock).verify(der([leaf.cert]))
    assert (identity.principal, identity.kind) == (
        "spiffe://cluster.local/ns/payments/sa/api",
        "linkerd_cert",
    )
    assert identity.expires_at == NOW + timedelta(hours=24)


MESSAGES = [
    (
        LeafSpec(uris=[API, API + "2"]),
        "multiple_uri_sans",
        "leaf has 2 URI SANs; an X.509-SVID has exactly one",
    ),
    (
        LeafSpec(uris=[API], is_ca=True),
        "svid_leaf_is_ca",
        "leaf has basicConstraints cA=true; an SVID leaf is not a CA",
    ),
    (LeafSpec(uris=[API], key_usage="none"), "bad_key_usage", "leaf has no key usage extension"),
    (
        LeafSpec(uris=[API], key_usage="non_critical"),
        "bad_key_usage",
        "leaf key usage extension is not critical",
    ),
    (
        LeafSpec(uris=[API], key_usage="no_digital_signature"),
        "bad_key_usage",
        "leaf key usage lacks digitalSignature",
    ),
    (
        LeafSpec(uris=[API], key_usage="crl_sign"),
        "bad_key_usage",
        "leaf key usage asserts keyCertSign or cRLSign",
    ),
    (
        LeafSpec(uris=[API], eku=[x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
        "bad_eku",
        "leaf extended key usage does not include clientAuth",
    ),
    (LeafSpec(uris=[API], key_kind="rsa1024"), "weak_key", "leaf RSA key has 1024 bits, needs 2048"),
    (
        LeafSpec(uris=["spiffe://unknown.org/a"]),
        "unknown_trust_domain",
        "no trust bundle for trust domain 'unknown.org'",
    ),
    (
        LeafSpec(uris=[API], not_after=NOW - timedelta(minutes=1)),
        "expired",
        "leaf expired at 2025-12-31T23:59:00+00:00",
    ),
    (
        LeafSpec(uris=[API], not_before=NOW + timedelta(minutes=1)),
        "not_yet_valid",
        "leaf is not valid before 2026-01-01T00:01:00+00:00",
    ),
    (
        LeafSpec(common_name="api"),
        "no_identity",
        "leaf has no URI SAN and no DNS SAN of the form "
        "<sa>.<ns>.serviceaccount.identity.linkerd.cluster.local",
    ),
    (
        LeafSpec(uris=["spiffe://cluster.local/ns/payments/sa/api"]),
        "wrong_trust_domain",
        "certificate 'CN=example.org root' of trust domain 'example.org' cannot vouch for spiffe://cluster.local/ns/payments/sa/api",
    ),
]


@pytest.mark.parametrize(
    ("spec", "code", "message"), MESSAGES, ids=[m[1] + ":" + m[2][:30] for m in MESSAGES]
)
def test_failure_messages(ca: DevCA, clock: FixedClock, spec: LeafSpec, code: str, message: str) -> None:
    assert failure(verifier(ca, clock), der([ca.issue(spec).cert])) == (code, f"identity: {message}")


def test_input_shape_messages(ca: DevCA, clock: FixedClock) -> None:
    v = verifier(ca, clock, max_chain_length=2)
    leaf = der([ca.issue_svid(API).cert])[0]
    assert failure(v, []) == ("empty_chain", "identity: no certificate presented")
    assert failure(v, [leaf] * 3) == ("chain_too_long", "identity: chain has 3 certificates, at most 2")
    assert failure(v, [leaf, b"\x30\x03"]) == (
        "malformed_certificate",
        "identity: certificate 1 is not a DER X.509 certificate",
    )
    assert failure(v, [b"x" * 70_000]) == (
        "malformed_certificate",
        "identity: certificate 0 is not DER bytes of at most 64 KiB",
    )


def test_untrusted_chain_message_names_the_trust_domain(clock: FixedClock) -> None:
    trusted, stranger = DevCA("trusted", now=NOW), DevCA("stranger", now=NOW)
    code, message = failure(verifier(trusted, clock), der([stranger.issue_svid(API).cert]))
    assert code == "untrusted_chain"
    assert message.startswith(
        "identity: no valid path to a CA of trust domain 'example.org': validation failed"
    )


def _custom_key_leaf(
    ca: DevCA, key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
) -> x509.Certificate:
    spec_cert = ca.issue_svid(API).cert  # copy its extensions onto a certificate for another key
    builder = x509.CertificateBuilder(
        issuer_name=spec_cert.issuer,
        subject_name=spec_cert.subject,
        public_key=key.public_key(),
        serial_number=1,
        not_valid_before=spec_cert.not_valid_before_utc,
        not_valid_after=spec_cert.not_valid_after_utc,
        extensions=list(spec_cert.extensions),
    )
    return builder.sign(ca.key, hashes.SHA256())


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        (ec.generate_private_key(ec.SECP521R1()), "secp521r1"),
        (ed25519.Ed25519PrivateKey.generate(), "_Ed25519PublicKey"),
    ],
)
def test_key_types_outside_the_allow_list(ca: DevCA, clock: FixedClock, key: object, kind: str) -> None:
    leaf = _custom_key_leaf(ca, key)  # type: ignore[arg-type]
    code, message = failure(verifier(ca, clock), der([leaf]))
    assert code == "weak_key"
    assert message.startswith("identity: leaf key type ")
    assert message.endswith("is not allowed (P-256, P-384, RSA-2048 or larger)")


def test_skew_is_configurable(ca: DevCA, clock: FixedClock) -> None:
    leaf = der([ca.issue_svid(API, not_after=NOW).cert])
    clock.advance(60)
    assert verifier(ca, clock, max_skew_seconds=60).verify(leaf).principal == API
    assert failure(verifier(ca, clock, max_skew_seconds=59), leaf)[0] == "expired"


def test_constructor_rejects_nonsense(ca: DevCA, clock: FixedClock) -> None:
    with pytest.raises(ValueError, match="max_skew_seconds"):
        verifier(ca, clock, max_skew_seconds=-1)
    with pytest.raises(ValueError, match="max_chain_length"):
        verifier(ca, clock, max_chain_length=0)


def test_codes_are_unique_short_snake_case() -> None:
    values = [code.value for code in IdentityCode]
    assert len(values) == len(set(values))
    assert all(v.replace("_", "").isalnum() and v.islower() and len(v) <= 32 for v in values)
