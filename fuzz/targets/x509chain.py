"""`X509SvidVerifier.verify` on arbitrary chains: byte 0 says how many elements (0-8), then each element is
a 2-byte big-endian length and that many bytes. Seeds are genuine chains from the harness's own CA, so the
mutator works on real DER. Invariants: only MeshgateError escapes; an accepted chain's leaf is one this CA
issued (identical to-be-signed bytes) and the principal is that leaf's SPIFFE ID.
"""

from __future__ import annotations

import functools

from cryptography import x509
from meshgate.identity import StaticTrustBundles, X509SvidVerifier
from meshgate.model import Identity

from fuzz.targets.common import TRUST_DOMAIN, InvariantViolation, clock, pki, rejected_cleanly
from fuzz.targets.reader import Reader

MAX_ELEMENTS = 8


@functools.cache
def verifier() -> X509SvidVerifier:
    return X509SvidVerifier(StaticTrustBundles({TRUST_DOMAIN: [pki().root.cert]}), clock())


def encode(chain: list[bytes]) -> bytes:
    """The input format, for seeds."""
    return bytes([len(chain)]) + b"".join(len(der).to_bytes(2, "big") + der for der in chain)


def decode(data: bytes) -> list[bytes]:
    reader = Reader(data)
    count = reader.byte() % (MAX_ELEMENTS + 1)
    return [reader.take(int.from_bytes(reader.take(2), "big")) for _ in range(count)]


def target(data: bytes) -> None:
    chain = decode(data)
    try:
        identity = verifier().verify(chain)
    except Exception as error:
        if rejected_cleanly(error):
            return
        raise
    check_accepted(chain, identity)


def check_accepted(chain: list[bytes], identity: Identity) -> None:
    leaf = x509.load_der_x509_certificate(chain[0])
    if leaf.tbs_certificate_bytes not in pki().issued_tbs():
        raise InvariantViolation("accepted a leaf this CA never issued")
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    uris = sans.get_values_for_type(x509.UniformResourceIdentifier)
    if [identity.principal] != uris:
        raise InvariantViolation(f"principal {identity.principal!r} is not the leaf's URI SAN {uris!r}")
