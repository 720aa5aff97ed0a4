"""Which workload a leaf certificate names: its one SPIFFE URI SAN, else a Linkerd DNS-form identity."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509

from meshgate.identity.certs import extension
from meshgate.identity.codes import IdentityCode, fail
from meshgate.model import CredentialKind
from meshgate.principal.linkerd import LinkerdNaming
from meshgate.principal.spiffeid import SCHEME, SpiffeID, parse_spiffe_id


@dataclass(frozen=True, slots=True)
class LeafName:
    spiffe_id: SpiffeID
    kind: CredentialKind


def leaf_name(leaf: x509.Certificate, linkerd: LinkerdNaming | None) -> LeafName:
    """The leaf's identity. URI SANs win; DNS SANs are read only when there is no URI SAN at all."""
    ext = extension(leaf, x509.SubjectAlternativeName)
    san = ext.value if ext else x509.SubjectAlternativeName([])
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    if len(uris) > 1:
        fail(IdentityCode.MULTIPLE_URI_SANS, f"leaf has {len(uris)} URI SANs; an X.509-SVID has exactly one")
    if uris:
        return LeafName(svid_id(uris[0]), CredentialKind.X509_SVID)
    return _linkerd_name(san.get_values_for_type(x509.DNSName), linkerd)


def svid_id(uri: str) -> SpiffeID:
    """The SPIFFE ID of an X.509-SVID leaf: valid, and naming a workload (not the bare trust domain)."""
    spiffe_id = parse_spiffe_id(uri)
    if not spiffe_id.path:
        fail(IdentityCode.MALFORMED_SPIFFE_ID, f"{uri!r} has no path; an X.509-SVID must name a workload")
    return spiffe_id


def _linkerd_name(dns_names: list[str], linkerd: LinkerdNaming | None) -> LeafName:
    if linkerd is None:
        fail(IdentityCode.NO_IDENTITY, "leaf has no URI SAN and Linkerd DNS-form identities are disabled")
    found = {m for m in (linkerd.to_spiffe(name) for name in dns_names) if m is not None}
    if not found:
        fail(
            IdentityCode.NO_IDENTITY,
            f"leaf has no URI SAN and no DNS SAN of the form <sa>.<ns>{linkerd.suffix}",
        )
    if len(found) > 1:
        fail(IdentityCode.AMBIGUOUS_IDENTITY, f"leaf names {len(found)} different Linkerd identities")
    return LeafName(found.pop(), CredentialKind.LINKERD_CERT)


def ca_trust_domain(ca: x509.Certificate) -> str | None:
    """The trust domain a CA names in a `spiffe://<td>` URI SAN (SPIRE's CAs do), if it names exactly one."""
    ext = extension(ca, x509.SubjectAlternativeName)
    uris = ext.value.get_values_for_type(x509.UniformResourceIdentifier) if ext else []
    domains = {u[len(SCHEME) :].split("/", 1)[0].lower() for u in uris if u.lower().startswith(SCHEME)}
    return domains.pop() if len(domains) == 1 else None
