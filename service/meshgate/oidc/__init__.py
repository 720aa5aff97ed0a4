"""OIDC / Kubernetes service-account JWT authentication.

Pure core: `TokenValidator` (sync, no I/O) over a `KeySource`. I/O edge: `JwksCache` (fetches, implements
`KeySource`, refreshed on threads of its own) and `TokenAuthenticator` (the facade the gRPC worker threads
call: unknown-kid refetch with a bounded wait, and a verified-token cache).
"""

from meshgate.oidc.authenticator import TokenAuthenticator, authenticate_token_once
from meshgate.oidc.fetch import Fetcher, FetchError, FetchResult, UrllibFetcher
from meshgate.oidc.issuers import IssuerConfig, IssuerKind, parse_issuers
from meshgate.oidc.jwks_cache import JwksCache
from meshgate.oidc.keys import KeySnapshot, KeySource, KeyState, StaticKeySource, VerificationKey, parse_jwks
from meshgate.oidc.reasons import Reason, UnknownKidError
from meshgate.oidc.settings import OidcSettings, parse_oidc_settings
from meshgate.oidc.token_cache import TokenCache
from meshgate.oidc.validator import TokenValidator

__all__ = [
    "FetchError",
    "FetchResult",
    "Fetcher",
    "IssuerConfig",
    "IssuerKind",
    "JwksCache",
    "KeySnapshot",
    "KeySource",
    "KeyState",
    "OidcSettings",
    "Reason",
    "StaticKeySource",
    "TokenAuthenticator",
    "TokenCache",
    "TokenValidator",
    "UnknownKidError",
    "UrllibFetcher",
    "VerificationKey",
    "authenticate_token_once",
    "parse_issuers",
    "parse_jwks",
    "parse_oidc_settings",
]
