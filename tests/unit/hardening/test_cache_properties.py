"""Cache invalidation, as hypothesis state machines: a cached answer is always the answer the uncached path
would give now. Caches: X.509 verifications (vs the trust-bundle generation), verified tokens (vs the JWKS
key set and its staleness), and a model of the shim's revision-keyed DecisionCache (DecisionCache.java).
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from meshgate.clock import FixedClock
from meshgate.errors import AuthenticationError
from meshgate.identity import CachedX509Verifier, StaticTrustBundles, X509SvidVerifier
from meshgate.model import Identity
from meshgate.oidc import OidcSettings, TokenAuthenticator, TokenValidator, parse_issuers

from devtools.devca import DevCA, LeafSpec
from tests.conformance.oidc.fakes import FakeFetcher, FakeMonotonic
from tests.conformance.oidc.mint import jwks_document, mint, signing_keys

NOW = datetime(2030, 1, 1, tzinfo=UTC)
MACHINE = settings(max_examples=30, stateful_step_count=25, deadline=None,
                   suppress_health_check=[HealthCheck.too_slow])  # fmt: skip


def outcome(call: object) -> str:
    """A comparable result: the principal, or the refusal code."""
    try:
        identity = call() if callable(call) else call
    except AuthenticationError as error:
        return f"refused:{error.code}"
    assert isinstance(identity, Identity)
    return identity.principal


# --- X.509 verifications vs bundle generation ------------------------------------------------------------


@functools.cache
def _pki() -> tuple[list[DevCA], list[list[bytes]]]:
    cas = [DevCA(f"ca{i}", now=NOW, uri_sans=["spiffe://example.org"]) for i in range(2)]
    chains = []
    for ca in cas:
        for sa in ("a", "b"):
            cert = ca.issue(LeafSpec(uris=[f"spiffe://example.org/ns/n/sa/{sa}"])).cert
            chains.append([cert.public_bytes(Encoding.DER)])
    return cas, chains


class X509CacheMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        cas, self.chains = _pki()
        self.cas = cas
        self.bundles = StaticTrustBundles({"example.org": [c.cert for c in cas]})
        clock = FixedClock(NOW)
        self.plain = X509SvidVerifier(self.bundles, clock)
        self.cached = CachedX509Verifier(self.plain, clock, max_entries=3)

    @rule(index=st.integers(0, 3))
    def verify(self, index: int) -> None:
        chain = self.chains[index]
        assert outcome(lambda: self.cached.verify(chain)) == outcome(lambda: self.plain.verify(chain))

    @rule(trusted=st.sets(st.integers(0, 1)))
    def rotate_bundle(self, trusted: set[int]) -> None:
        self.bundles.replace({"example.org": [self.cas[i].cert for i in sorted(trusted)]} if trusted else {})


TestX509Cache = X509CacheMachine.TestCase
TestX509Cache.settings = MACHINE


def test_x509_cache_never_serves_an_old_bundle() -> None:
    """The catalogue's X15 entry: removing a CA from the bundle ends its cached verifications at once."""
    cas, chains = _pki()
    bundles = StaticTrustBundles({"example.org": [cas[0].cert]})
    cached = CachedX509Verifier(X509SvidVerifier(bundles, FixedClock(NOW)), FixedClock(NOW))
    assert cached.verify(chains[0]).principal.endswith("/sa/a")
    bundles.replace({"example.org": [cas[1].cert]})
    with pytest.raises(AuthenticationError) as caught:
        cached.verify(chains[0])
    assert caught.value.code == "untrusted_chain"


# --- verified tokens vs the JWKS key set -----------------------------------------------------------------

ISS, JWKS_URL = "https://sso.example.test", "https://sso.example.test/jwks"
KEY_SETS = (["rsa1"], ["rsa2"], ["rsa1", "rsa2"])
TOKEN_SETTINGS = OidcSettings(
    token_cache_size=8, token_cache_ttl_seconds=60, refresh_default_seconds=300, refresh_max_seconds=600,
    max_stale_seconds=900, unknown_kid_interval_seconds=0,
)  # fmt: skip


def _token(key: str, sub: str) -> str:
    signing = signing_keys()[key]
    claims = {"iss": ISS, "sub": sub, "aud": "pulsar", "exp": int(NOW.timestamp()) + 3600}
    return mint(signing, {"alg": "RS256", "kid": signing.kid}, claims)


class TokenCacheMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        issuers = parse_issuers([{"issuer": ISS, "jwks_url": JWKS_URL, "audiences": ["pulsar"]}])
        self.fetcher, self.mono = FakeFetcher({JWKS_URL: jwks_document(["rsa1"])}), FakeMonotonic()
        clock = FixedClock(NOW)
        self.auth = TokenAuthenticator.from_config(
            issuers, TOKEN_SETTINGS, clock, fetcher=self.fetcher, monotonic_clock=self.mono
        )
        self.fresh = TokenValidator(issuers, self.auth.keys, clock)  # same keys, no token cache
        self.auth.keys.refresh(ISS)

    def teardown(self) -> None:
        self.auth.close()

    @rule(key=st.sampled_from(["rsa1", "rsa2"]), sub=st.sampled_from(["alice", "bob"]))
    def authenticate(self, key: str, sub: str) -> None:
        token = _token(key, sub)
        expected = outcome(lambda: self.fresh.validate(token))
        got = outcome(lambda: self.auth.authenticate(token))
        if expected == "refused:unknown_kid":  # the facade may refetch first; the key set decides
            expected = outcome(lambda: self.fresh.validate(token))
        assert got == expected

    @rule(keys=st.sampled_from(KEY_SETS))
    def rotate_jwks(self, keys: list[str]) -> None:
        self.fetcher.documents[JWKS_URL] = jwks_document(keys)
        self.auth.keys.refresh(ISS)

    @rule()
    def idp_outage_beyond_stale_bound(self) -> None:
        self.fetcher.documents[JWKS_URL] = None
        self.mono.advance(TOKEN_SETTINGS.max_stale_seconds + 1)
        self.auth.keys.refresh(ISS)


TestTokenCache = TokenCacheMachine.TestCase
TestTokenCache.settings = MACHINE


def test_token_cache_never_outlives_its_key() -> None:
    """The catalogue's J21: after a refresh removes a key, a token it signed is refused, cached or not."""
    machine = TokenCacheMachine()
    try:
        machine.authenticate("rsa1", "alice")
        machine.rotate_jwks(["rsa2"])
        token = _token("rsa1", "alice")
        assert outcome(lambda: machine.auth.authenticate(token)) == ("refused:unknown_kid")
    finally:
        machine.teardown()


# --- a model of the shim's DecisionCache (plugin-shim/.../DecisionCache.java) ----------------------------


class DecisionCacheModel:
    """The Java class's rules: keyed by (question, revision), served only for the active revision."""

    def __init__(self) -> None:
        self.fresh: dict[tuple[str, str], bool] = {}
        self.active: str | None = None
        self.last_known = ""

    def get(self, key: str) -> tuple[bool, str] | None:
        revision = self.active
        if revision is None or (key, revision) not in self.fresh:
            return None
        return self.fresh[(key, revision)], revision

    def put(self, key: str, revision: str, allowed: bool) -> None:
        if revision and revision == self.active:
            self.fresh[(key, revision)] = allowed

    def activate(self, revision: str) -> None:
        if not revision:
            self.suspend()
            return
        if revision != self.last_known:
            self.last_known = revision
            self.fresh.clear()
        self.active = revision

    def suspend(self) -> None:
        self.active = None
        self.fresh.clear()


class ShimCacheMachine(RuleBasedStateMachine):
    """The service swaps revisions; the stream delivers them late; answers in flight land late too."""

    def __init__(self) -> None:
        super().__init__()
        self.cache = DecisionCacheModel()
        self.service_revision = "r0"
        self.delivered = ""  # last revision the stream delivered
        self.in_flight: list[tuple[str, str, bool]] = []
        self.cache.activate("r0")
        self.delivered = "r0"

    @staticmethod
    def _answer(key: str, revision: str) -> bool:
        return hash((key, revision)) % 2 == 0

    @rule(n=st.integers(1, 5))
    def service_swaps(self, n: int) -> None:
        self.service_revision = f"r{int(self.service_revision[1:]) + n}"

    @rule()
    def stream_delivers(self) -> None:
        self.cache.activate(self.service_revision)
        self.delivered = self.service_revision

    @rule()
    def stream_drops(self) -> None:
        self.cache.suspend()
        self.delivered = ""

    @rule(key=st.sampled_from(["a", "b", "c"]))
    def ask_service(self, key: str) -> None:
        self.in_flight.append((key, self.service_revision, self._answer(key, self.service_revision)))

    @precondition(lambda self: self.in_flight)
    @rule()
    def answer_lands(self) -> None:
        key, revision, allowed = self.in_flight.pop(0)
        self.cache.put(key, revision, allowed)

    @rule(key=st.sampled_from(["a", "b", "c"]))
    def lookup(self, key: str) -> None:
        hit = self.cache.get(key)
        if hit is not None:
            allowed, revision = hit
            assert revision == self.delivered, "served an answer of a revision the stream no longer reports"
            assert allowed == self._answer(key, revision)

    @invariant()
    def only_the_delivered_revision_is_cached(self) -> None:
        assert all(revision == self.delivered for _, revision in self.cache.fresh)


TestShimCache = ShimCacheMachine.TestCase
TestShimCache.settings = MACHINE
