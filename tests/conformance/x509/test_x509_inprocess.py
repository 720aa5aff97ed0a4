"""Every case of cases.yaml against `X509SvidVerifier` in-process; a gRPC runner reuses `iter_cases`."""

from __future__ import annotations

import pytest
from cryptography import x509
from meshgate.clock import FixedClock
from meshgate.errors import AuthenticationError
from meshgate.identity import IdentityCode, StaticTrustBundles, X509SvidVerifier
from meshgate.principal import LinkerdNaming

from .build import Material, VerifierOptions, iter_cases, load_cases

CASES = list(iter_cases())


def verifier_for(material: Material) -> X509SvidVerifier:
    bundles = {
        td: [c for pem in pems for c in x509.load_pem_x509_certificates(pem)]
        for td, pems in material.bundle_pems_by_trust_domain.items()
    }
    options: VerifierOptions = material.expected.options
    linkerd = None if options.linkerd is None else LinkerdNaming(**options.linkerd)
    return X509SvidVerifier(
        StaticTrustBundles(bundles),
        FixedClock(material.now),
        max_skew_seconds=options.max_skew_seconds,
        max_chain_length=options.max_chain_length,
        linkerd=linkerd,
    )


@pytest.mark.parametrize("material", CASES, ids=[m.case_id for m in CASES])
def test_case(material: Material) -> None:
    verifier = verifier_for(material)
    expected = material.expected
    if expected.error is not None:
        with pytest.raises(AuthenticationError) as caught:
            verifier.verify(material.chain_der)
        assert caught.value.code == expected.error, caught.value.message
        assert "\n" not in caught.value.message
        return
    identity = verifier.verify(material.chain_der)
    assert (identity.principal, identity.kind.value) == (expected.principal, expected.kind)
    assert identity.issuer == identity.principal.split("/")[2]


def test_table_is_large_and_uses_known_codes() -> None:
    cases = load_cases()
    assert len(cases) >= 30
    codes = {c["expect"]["error"] for c in cases if "error" in c["expect"]}
    assert codes <= {code.value for code in IdentityCode}
