"""`TokenValidator`: pure, synchronous JWT verification. Keys come from a `KeySource`; time from a `Clock`.

Order: strict compact parse → header rules → issuer chosen by the unverified `iss` → that issuer's algorithm
allow-list → that issuer's keys only → PyJWT signature check → claim checks → principal mapping (for a
delegated SSO token, the actor: `meshgate.oidc.delegation`) → the principal may not cross kinds
(`meshgate.principal.kinds`: an SSO token never names a workload or a super-user).

The signature is checked with PyJWT's algorithm objects (key preparation, minimum key length, verification)
over the bytes the strict parse already decoded. `PyJWS.decode_complete` would parse the token a second
time, checking each character in a Python generator: about a fifth of a first-sight RS256 verification.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import jwt
from jwt.exceptions import InvalidKeyError, PyJWTError

from meshgate.clock import Clock
from meshgate.errors import ConfigError
from meshgate.model import CredentialKind, Delegation, Identity
from meshgate.oidc.checks import check_audience, check_header, check_times, require_str, unverified_issuer
from meshgate.oidc.compact import CompactToken, parse_compact
from meshgate.oidc.delegation import DEFAULT_MAX_DEPTH, read_chain
from meshgate.oidc.issuers import IssuerConfig, IssuerKind
from meshgate.oidc.keys import KeySnapshot, KeySource, VerificationKey
from meshgate.oidc.principal import exposed_attributes, jwt_svid_principal, service_account_principal
from meshgate.oidc.reasons import Reason, UnknownKidError, fail
from meshgate.principal.kinds import check_principal

DEFAULT_MAX_TOKEN_BYTES = 16384
KeySet = Mapping[str, VerificationKey]


class TokenValidator:
    def __init__(
        self,
        issuers: Iterable[IssuerConfig],
        keys: KeySource,
        clock: Clock,
        *,
        max_token_bytes: int = DEFAULT_MAX_TOKEN_BYTES,
        superusers: Collection[str] = (),
        max_delegation_depth: int = DEFAULT_MAX_DEPTH,
    ) -> None:
        """`superusers`: the configured super-users (`policy.superusers`), which no SSO token may name;
        `max_delegation_depth`: the most actors a delegated token's chain may name (0: none)."""
        self._issuers = {cfg.issuer: cfg for cfg in issuers}
        self._superusers = frozenset(superusers)
        self._keys = keys
        self._clock = clock
        self._max_token_bytes = max_token_bytes
        self._max_depth = max_delegation_depth

    @property
    def issuers(self) -> Mapping[str, IssuerConfig]:
        return self._issuers

    def validate(self, token: str) -> Identity:
        """Verify `token` and map it to an `Identity`, or raise `AuthenticationError` with a `Reason` code."""
        return self.validate_keyed(token)[0]

    def validate_keyed(self, token: str) -> tuple[Identity, KeySet]:
        """`validate`, also returning the key set the signature was checked against: a cache of verified
        tokens tags its entries with it (the set may be replaced while another thread reads it)."""
        parsed = parse_compact(token, self._max_token_bytes)
        alg, kid = check_header(parsed.header)
        config = unverified_issuer(parsed.payload, self._issuers)
        if alg not in config.algorithms:
            fail(Reason.ALG_NOT_ALLOWED, f"algorithm {alg} is not allowed for this issuer")
        snapshot = self._keys.snapshot(config.issuer)  # read once: the key set used is the one returned
        key = _key_for(snapshot, config, kid, alg)
        _verify_signature(parsed, key, alg)
        identity = _identity(config, parsed.payload, self._clock.now().timestamp(), self._max_depth)
        check_principal(identity.kind, identity.principal, self._superusers)
        return identity, snapshot.keys


def _key_for(snapshot: KeySnapshot, config: IssuerConfig, kid: str | None, alg: str) -> VerificationKey:
    if not snapshot.usable:
        fail(Reason.JWKS_UNAVAILABLE, f"keys of the issuer are {snapshot.state.value}")
    if kid is None:
        if config.require_kid or len(snapshot.keys) != 1:
            raise UnknownKidError("token has no kid and the key cannot be chosen", issuer=config.issuer)
        key = next(iter(snapshot.keys.values()))
    else:
        found = snapshot.keys.get(kid)
        if found is None:
            raise UnknownKidError("kid is not in the issuer's key set", issuer=config.issuer)
        key = found
    if not key.accepts(alg):
        fail(Reason.ALG_NOT_ALLOWED, f"key {key.kid!r} may not be used with {alg}")
    return key


def _verify_signature(parsed: CompactToken, key: VerificationKey, alg: str) -> None:
    """Signature only (`alg` is allow-listed and matches the key by now); claims are checked by us."""
    try:
        algorithm = jwt.get_algorithm_by_name(alg)
        prepared = algorithm.prepare_key(key.key)
        if algorithm.check_key_length(prepared):  # a message when below the minimum for `alg`
            raise InvalidKeyError("key is shorter than the minimum for the algorithm")
        valid = algorithm.verify(parsed.signing_input, prepared, parsed.signature)
    except (InvalidKeyError, NotImplementedError):
        fail(Reason.ALG_NOT_ALLOWED, "key is not usable with the token's algorithm")
    except PyJWTError as exc:
        fail(Reason.MALFORMED, f"rejected by PyJWT: {type(exc).__name__}")
    if not valid:
        fail(Reason.BAD_SIGNATURE, "signature verification failed")


def _identity(config: IssuerConfig, payload: Mapping[str, Any], now: float, max_depth: int) -> Identity:
    exp = check_times(payload, now, config.leeway_seconds)
    check_audience(payload, config.audiences)
    sub = require_str(payload, "sub")
    delegation = None
    if config.kind is IssuerKind.SSO:
        principal, attributes, delegation = _sso(config, payload, max_depth)
        kind = CredentialKind.OIDC
    else:
        principal, kind = _workload(config, payload, sub)
        attributes = exposed_attributes(payload, config.expose_claims)
    return Identity(
        principal=_shared(principal),
        kind=kind,
        expires_at=_expiry(exp),
        issuer=config.issuer,
        attributes=attributes,
        delegation=delegation,
    )


# Cached verified tokens keep their identity; equal parts of identities are one object. Bounded: a miss
# only costs the copy it would have kept anyway.
@lru_cache(maxsize=4096)
def _expiry(exp: float) -> datetime:
    """`exp` as a datetime, one object per value: tokens that expire in the same second share it."""
    return datetime.fromtimestamp(exp, UTC)


@lru_cache(maxsize=4096)
def _shared(principal: str) -> str:
    """One string per principal seen lately: the tokens of one service account's replicas share it."""
    return principal


def _workload(config: IssuerConfig, payload: Mapping[str, Any], sub: str) -> tuple[str, CredentialKind]:
    """The SPIFFE principal of a Kubernetes service-account token or a JWT-SVID, which never delegate."""
    if "act" in payload:
        fail(
            Reason.DELEGATION_NOT_ACCEPTED,
            f"a {config.kind.value} issuer's token names an actor (act): only sso issuers' tokens delegate",
        )
    if config.kind is IssuerKind.KUBERNETES:
        return service_account_principal(sub, config.trust_domain), CredentialKind.K8S_SA_TOKEN
    return jwt_svid_principal(sub, config.trust_domain), CredentialKind.JWT_SVID


def _sso(
    config: IssuerConfig, payload: Mapping[str, Any], max_depth: int
) -> tuple[str, dict[str, tuple[str, ...]], Delegation | None]:
    """The principal, attributes and chain of an SSO token: its own, or its actor's when it has `act`."""
    rule = config.principal
    if rule is None:
        raise ConfigError(f"issuer {config.issuer!r}: sso issuers need a principal rule")
    subject = rule.render(payload)
    chain = read_chain(payload, config.issuer, subject, rule, config.expose_claims, max_depth)
    if chain is None:
        return subject, exposed_attributes(payload, config.expose_claims), None
    return chain.caller, chain.attributes, chain.delegation
