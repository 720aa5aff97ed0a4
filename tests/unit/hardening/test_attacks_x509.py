"""The X.509 attacks of x509_attacks.py against `X509SvidVerifier`: every one refused with its exact code."""

from __future__ import annotations

import pytest
from meshgate.clock import FixedClock
from meshgate.errors import AuthenticationError
from meshgate.identity import StaticTrustBundles, X509SvidVerifier

from tests.unit.hardening.x509_attacks import ATTACKS, NOW, SPIFFE_ID, TD, Attack, leaf, root


def _verifier(roots: list[object]) -> X509SvidVerifier:
    return X509SvidVerifier(StaticTrustBundles({TD: roots, "cluster.local": roots}), FixedClock(NOW))  # type: ignore[dict-item]


def test_the_builder_mints_a_valid_svid() -> None:
    identity = _verifier([root().cert]).verify([leaf(root()).der()])
    assert identity.principal == SPIFFE_ID


def test_ids_are_unique() -> None:
    assert len({a.case_id for a in ATTACKS}) == len(ATTACKS)


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.case_id for a in ATTACKS])
def test_attack_is_refused_with_its_code(attack: Attack) -> None:
    roots, chain = attack.build()
    with pytest.raises(AuthenticationError) as caught:
        _verifier(list(roots)).verify(chain)
    assert caught.value.code == attack.error, caught.value.message
