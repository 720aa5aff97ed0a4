package dev.meshgate.pulsar;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshgate.proto.v1.AuthorizeRequest;
import dev.meshgate.proto.v1.Credential;
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

    @Test
    void nothingIsCachedWhileTheActiveRevisionIsUnknown() {
        DecisionCache cache = new DecisionCache(CONFIG);
        cache.put(key("reader"), "r1", true);
        cache.activate("r1");
        assertEquals(Optional.empty(), cache.get(key("reader")));
    }

    @Test
    void answersOfTheActiveRevisionAreServed() {
        DecisionCache cache = new DecisionCache(CONFIG);
        cache.activate("r1");
        cache.put(key("reader"), "r1", true);
        cache.put(key("writer"), "r1", false);
        assertEquals(Optional.of(true), cache.get(key("reader")));
        assertEquals(Optional.of(false), cache.get(key("writer")));
    }

    @Test
    void anAnswerForAnySubscriptionServesEveryNameAndOnlyItsRevision() {
        DecisionCache cache = new DecisionCache(CONFIG);
        cache.activate("r1");
        cache.put(DecisionKey.of(question("reader", "")), "r1", true, true);
        assertEquals(Optional.of(true), cache.get(DecisionKey.of(question("reader", "billing"))));
        assertEquals(Optional.of(true), cache.get(DecisionKey.of(question("reader", "other"))));
        assertEquals(Optional.empty(), cache.get(DecisionKey.of(question("writer", "billing"))));
        cache.activate("r2");
        assertEquals(Optional.empty(), cache.get(DecisionKey.of(question("reader", "billing"))));
    }

    @Test
    void anAnswerForOneSubscriptionServesOnlyThatName() {
        DecisionCache cache = new DecisionCache(CONFIG);
        cache.activate("r1");
        cache.put(DecisionKey.of(question("reader", "reader-1")), "r1", true, false);
        assertEquals(Optional.of(true), cache.get(DecisionKey.of(question("reader", "reader-1"))));
        assertEquals(Optional.empty(), cache.get(DecisionKey.of(question("reader", "reader-2"))));
        assertEquals(Optional.empty(), cache.get(DecisionKey.of(question("reader", ""))));
    }

    @Test
    void aNewRevisionDropsEveryOlderAnswer() {
        DecisionCache cache = new DecisionCache(CONFIG);
        cache.activate("r1");
        cache.put(key("reader"), "r1", true);
        cache.activate("r2");
        assertEquals(Optional.empty(), cache.get(key("reader")));
        assertEquals(0, cache.size());
    }

    @Test
    void anAnswerThatArrivesAfterTheRevisionChangedIsNeverServed() {
        DecisionCache cache = new DecisionCache(CONFIG);
        cache.activate("r2");
        cache.put(key("reader"), "r1", true);
        assertEquals(Optional.empty(), cache.get(key("reader")));
    }

    @Test
    void aBrokenStreamSuspendsTheCacheUntilItIsBack() {
        DecisionCache cache = new DecisionCache(CONFIG);
        cache.activate("r1");
        cache.put(key("reader"), "r1", true);
        cache.suspend();
        assertEquals(Optional.empty(), cache.get(key("reader")));
        cache.put(key("reader"), "r1", true);
        cache.activate("r1");
        assertEquals(Optional.empty(), cache.get(key("reader")));
    }

    @Test
    void theKeyIsExactlyWhatIsSent() {
        DecisionCache cache = new DecisionCache(CONFIG);
        cache.activate("r1");
        cache.put(DecisionKey.of(question("reader", "billing")), "r1", true);
        assertEquals(Optional.of(true), cache.get(DecisionKey.of(question("reader", "billing").toBuilder()
                .setRequestId("another id").build())));
        assertEquals(Optional.empty(), cache.get(DecisionKey.of(question("reader", "other-sub"))));
        AuthorizeRequest withToken = question("reader", "billing").toBuilder()
                .setCredential(Credential.newBuilder().setToken("jwt-a")).build();
        assertEquals(Optional.empty(), cache.get(DecisionKey.of(withToken)));
        cache.put(DecisionKey.of(withToken), "r1", false);
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
        cache.put(key("reader"), "r1", true);
        assertEquals(Optional.empty(), cache.get(key("reader")));
    }

    @Test
    void staleAllowsOnlyRepeatAllowsOfTheLastKnownRevision() {
        DecisionCache cache = new DecisionCache(STALE);
        cache.activate("r1");
        cache.put(key("reader"), "r1", true);
        cache.put(key("writer"), "r1", false);
        cache.suspend();
        assertTrue(cache.staleAllow(key("reader")));
        assertFalse(cache.staleAllow(key("writer")), "a deny is never turned into an allow");
        cache.activate("r2");
        assertFalse(cache.staleAllow(key("reader")), "a new revision drops stale allows too");
    }

    @Test
    void staleIfErrorIsOffByDefault() {
        DecisionCache cache = new DecisionCache(CONFIG);
        cache.activate("r1");
        cache.put(key("reader"), "r1", true);
        assertFalse(cache.staleAllow(key("reader")));
    }
}
