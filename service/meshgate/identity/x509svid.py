"""X.509-SVID and Linkerd client-certificate verification: a leaf-first DER chain in, an `Identity` out.

Pure and synchronous. Steps, each failing with its own code: parse, name the workload (one SPIFFE URI SAN,
or a Linkerd DNS-form identity), check the leaf profile, check validity with the injected clock and a small
skew, pick the trust bundle of the leaf's trust domain, build a path with `cryptography.x509.verification`,
and check that no CA in it belongs to another trust domain.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from meshgate.clock import Clock
from meshgate.identity.bundles import TrustBundleSource
from meshgate.identity.certs import check_validity, describe, one_line, parse_chain
from meshgate.identity.codes import IdentityCode, fail
from meshgate.identity.names import ca_trust_domain, leaf_name
from meshgate.identity.profile import check_leaf_profile
from meshgate.model import Identity
from meshgate.principal.linkerd import LinkerdNaming
from meshgate.principal.spiffeid import SpiffeID

DEFAULT_MAX_SKEW_SECONDS = 30.0
DEFAULT_MAX_CHAIN_LENGTH = 6  # leaf + intermediates as presented; SPIRE nests a few at most
# What cryptography raises for malformed input besides ValueError (none of them is a ValueError).
_PARSE_ERRORS = (
    ValueError,
    UnsupportedAlgorithm,
    x509.InvalidVersion,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
)


class X509SvidVerifier:
    """Verifies client certificate chains against per-trust-domain bundles; never does I/O."""

    def __init__(
        self,
        bundles: TrustBundleSource,
        clock: Clock,
        *,
        max_skew_seconds: float = DEFAULT_MAX_SKEW_SECONDS,
        linkerd: LinkerdNaming | None = LinkerdNaming(),  # noqa: B008 - frozen value object
        max_chain_length: int = DEFAULT_MAX_CHAIN_LENGTH,
    ) -> None:
        if max_skew_seconds < 0 or max_chain_length < 1:
            raise ValueError("identity: max_skew_seconds must be >= 0 and max_chain_length >= 1")
        self._bundles = bundles
        self._clock = clock
        self._skew = timedelta(seconds=max_skew_seconds)
        self._linkerd = linkerd
        self._max_chain_length = max_chain_length

    @property
    def bundles(self) -> TrustBundleSource:
        return self._bundles

    def verify(self, chain_der: Sequence[bytes]) -> Identity:
        """The identity a leaf-first DER chain proves, or `AuthenticationError` with an `IdentityCode`."""
        try:
            return self._verify(chain_der)
        except _PARSE_ERRORS as err:
            # cryptography parses fields lazily: a malformed key or name surfaces only when it is read.
            fail(IdentityCode.MALFORMED_CERTIFICATE, f"cannot parse a certificate field: {one_line(err)}")

    def _verify(self, chain_der: Sequence[bytes]) -> Identity:
        certs = parse_chain(chain_der, self._max_chain_length)
        leaf, intermediates = certs[0], certs[1:]
        name = leaf_name(leaf, self._linkerd)
        check_leaf_profile(leaf)
        at = check_validity(certs, self._clock.now(), self._skew)
        trust_domain = name.spiffe_id.trust_domain
        check_ca_trust_domains(intermediates, name.spiffe_id)
        path = self._build_path(leaf, intermediates, trust_domain, at)
        check_ca_trust_domains(path[1:], name.spiffe_id)
        return Identity(
            principal=str(name.spiffe_id),
            kind=name.kind,
            expires_at=min(c.not_valid_after_utc for c in path),
            issuer=trust_domain,
        )

    def _build_path(
        self, leaf: x509.Certificate, intermediates: list[x509.Certificate], trust_domain: str, at: datetime
    ) -> list[x509.Certificate]:
        authorities = list(self._bundles.x509_authorities(trust_domain))
        if not authorities:
            fail(IdentityCode.UNKNOWN_TRUST_DOMAIN, f"no trust bundle for trust domain {trust_domain!r}")
        builder = PolicyBuilder().store(Store(authorities)).time(at).max_chain_depth(self._max_chain_length)
        try:
            return builder.build_client_verifier().verify(leaf, intermediates).chain
        except VerificationError as err:
            fail(
                IdentityCode.UNTRUSTED_CHAIN,
                f"no valid path to a CA of trust domain {trust_domain!r}: {one_line(err)}",
            )


def check_ca_trust_domains(cas: Sequence[x509.Certificate], spiffe_id: SpiffeID) -> None:
    """A CA naming itself `spiffe://<A>` in a URI SAN must not vouch for an ID in trust domain B."""
    for ca in cas:
        domain = ca_trust_domain(ca)
        if domain is not None and domain != spiffe_id.trust_domain:
            fail(
                IdentityCode.WRONG_TRUST_DOMAIN,
                f"{describe(ca)} of trust domain {domain!r} cannot vouch for {spiffe_id}",
            )
