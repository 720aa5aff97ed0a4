"""Trust domain names: the one rule, for names in credentials and names in configuration alike."""

from __future__ import annotations

from meshgate.errors import AuthenticationError, ConfigError
from meshgate.principal.codes import PrincipalCode, fail
from meshgate.principal.spiffeid import SCHEME, parse_spiffe_id


def parse_trust_domain(name: str) -> str:
    """Validate a bare trust domain name (as written in config) and return it."""
    if "/" in name:
        fail(PrincipalCode.MALFORMED_SPIFFE_ID, f"{name!r} is not a trust domain name")
    return parse_spiffe_id(SCHEME + name).trust_domain


def trust_domain_setting(name: str, where: str) -> str:
    """`parse_trust_domain` for a configuration key: a `ConfigError` naming the key `where`."""
    try:
        return parse_trust_domain(name)
    except AuthenticationError as err:
        raise ConfigError(f"{where}: {err.message}") from err
