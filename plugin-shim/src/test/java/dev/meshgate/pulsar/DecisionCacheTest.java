package dev.meshgate.pulsar;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshgate.proto.v1.AuthorizeRequest;
import dev.meshgate.proto.v1.Credential;
import dev.meshgate.proto.v1.Decision;
import dev.meshgate.proto.v1.Resource;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class DecisionCacheTest {

    static final MeshgateConfig CONFIG = MeshgateConfig.from(MeshgateConfigTest.conf());
    static final MeshgateConfig STALE = MeshgateConfig.from(MeshgateConfigTest.conf("meshgateFailMode",
            "stale-if-error"));

    static AuthorizeRequest question(String principal, String subscription) {
        return AuthorizeRequest.newBuilder().setPrincipal(principal).setAction("topic.consume")
                .setResource(Resource.newBuilder().setTopic("persistent://acme/payments/orders"))
                .setSubscription(subscription).setRequestId("r1").build();
    }

    private static DecisionKey key(String principal) {
        return DecisionKey.of(question(principal, "billing"));
    }

    /** A service answer under {@code revision}. */
    static Decision answer(String revision, boolean allowed) {
        return answer(revision, allowed, false);
    }

    static Decision answer(String revision, boolean allowed, boolean anySubscription) {
        return Decision.newBuilder().setRevision(revision).setAllowed(allowed).setAnySubscription(anySubscription)
                .build();
    }

    private static Optional<Boolean> allowed(DecisionCache cache, DecisionKey key) {
        return cache.get(key).map(Decision::getAllowed);
    }

    @Test
    void nothingIsCachedWhileTheActiveRevisionIsUnknown() {
        DecisionCache cache = new DecisionCache(CONFIG);
        cache.put(key("reader"), answer("r1", true));
        cache.activate("r1");
        assertEquals(Optional.empty(), cache.get(key("reader")));
    }

    @Test
    void answersOfTheActiveRevisionAreServed() {
        DecisionCache cache = new DecisionCache(CONFIG);
        cache.activate("r1");
        cache.put(key("reader"), answer("r1", true));
        cache.put(key("writer"), answer("r1", false));
        assertEquals(Optional.of(true), allowed(cache, key("reader")));
        assertEquals(Optional.of(false), allowed(cache, key("writer")));
    }

    @Test
    void anAnswerForAnySubscriptionServesEveryNameAndOnlyItsRevision() {
        DecisionCache cache = new DecisionCache(CONFIG);
        cache.activate("r1");
        cache.put(DecisionKey.of(question("reader", "")), answer("r1", true, true));
        assertEquals(Optional.of(true), allowed(cache, DecisionKey.of(question("reader", "billing"))));
        assertEquals(Optional.of(true), allowed(cache, DecisionKey.of(question("reader", "other"))));
        assertEquals(Optional.empty(), cache.get(DecisionKey.of(question("writer", "billing"))));
        cache.activate("r2");
        assertEquals(Optional.empty(), cache.get(DecisionKey.of(question("reader", "billing"))));
    }

    @Test
    void anAnswerForOneSubscriptionServesOnlyThatName() {
        DecisionCache cache = new DecisionCache(CONFIG);
        cache.activate("r1");
        cache.put(DecisionKey.of(question("reader", "reader-1")), answer("r1", true, false));
        assertEquals(Optional.of(true), allowed(cache, DecisionKey.of(question("reader", "reader-1"))));
        assertEquals(Optional.empty(), cache.get(DecisionKey.of(question("reader", "reader-2"))));
        assertEquals(Optional.empty(), cache.get(DecisionKey.of(question("reader", ""))));
    }

    @Test
    void aNewRevisionDropsEveryOlderAnswer() {
        DecisionCache cache = new DecisionCache(CONFIG);
        cache.activate("r1");
        cache.put(key("reader"), answer("r1", true));
        cache.activate("r2");
        assertEquals(Optional.empty(), cache.get(key("reader")));
        assertEquals(0, cache.size());
    }

    @Test
    void anAnswerThatArrivesAfterTheRevisionChangedIsNeverServed() {
        DecisionCache cache = new DecisionCache(CONFIG);
        cache.activate("r2");
        cache.put(key("reader"), answer("r1", true));
        assertEquals(Optional.empty(), cache.get(key("reader")));
    }

    @Test
    void aBrokenStreamSuspendsTheCacheUntilItIsBack() {
        DecisionCache cache = new DecisionCache(CONFIG);
        cache.activate("r1");
        cache.put(key("reader"), answer("r1", true));
        cache.suspend();
        assertEquals(Optional.empty(), cache.get(key("reader")));
        cache.put(key("reader"), answer("r1", true));
        cache.activate("r1");
        assertEquals(Optional.empty(), cache.get(key("reader")));
    }

    @Test
    void theKeyIsExactlyWhatIsSent() {
        DecisionCache cache = new DecisionCache(CONFIG);
        cache.activate("r1");
        cache.put(DecisionKey.of(question("reader", "billing")), answer("r1", true));
        assertEquals(Optional.of(true), allowed(cache, DecisionKey.of(question("reader", "billing").toBuilder()
                .setRequestId("another id").build())));
        assertEquals(Optional.empty(), cache.get(DecisionKey.of(question("reader", "other-sub"))));
        AuthorizeRequest withToken = question("reader", "billing").toBuilder()
                .setCredential(Credential.newBuilder().setToken("jwt-a")).build();
        assertEquals(Optional.empty(), cache.get(DecisionKey.of(withToken)));
        cache.put(DecisionKey.of(withToken), answer("r1", false));
        AuthorizeRequest otherToken = withToken.toBuilder().setCredential(Credential.newBuilder().setToken("jwt-b"))
                .build();
        assertEquals(Optional.empty(), cache.get(DecisionKey.of(otherToken)));
        assertFalse(DecisionKey.of(withToken).toString().contains("jwt-a"), "the token itself is not kept");
    }

    @Test
    void disabledCacheServesNothing() {
        DecisionCache cache = new DecisionCache(MeshgateConfig.from(MeshgateConfigTest.conf(
                "meshgateCacheMaxEntries", "0")));
        cache.activate("r1");
        cache.put(key("reader"), answer("r1", true));
        assertEquals(Optional.empty(), cache.get(key("reader")));
    }

    @Test
    void staleAllowsOnlyRepeatAllowsOfTheLastKnownRevision() {
        DecisionCache cache = new DecisionCache(STALE);
        cache.activate("r1");
        cache.put(key("reader"), answer("r1", true));
        cache.put(key("writer"), answer("r1", false));
        cache.suspend();
        assertTrue(cache.staleAllow(key("reader")).isPresent());
        assertFalse(cache.staleAllow(key("writer")).isPresent(), "a deny is never turned into an allow");
        cache.activate("r2");
        assertFalse(cache.staleAllow(key("reader")).isPresent(), "a new revision drops stale allows too");
    }

    @Test
    void staleIfErrorIsOffByDefault() {
        DecisionCache cache = new DecisionCache(CONFIG);
        cache.activate("r1");
        cache.put(key("reader"), answer("r1", true));
        assertFalse(cache.staleAllow(key("reader")).isPresent());
    }
}
