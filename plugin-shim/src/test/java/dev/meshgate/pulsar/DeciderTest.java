package dev.meshgate.pulsar;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshgate.proto.v1.AuthorizeRequest;
import io.grpc.Status;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class DeciderTest extends DeciderFixture {

    /** An outage is asked again until the budget ends: a short one keeps these tests quick. */
    private static final String OUTAGE_BUDGET = "200";

    @Test
    void superUsersShortCircuit() {
        MeshgateConfig config = new MeshgateConfig(List.of("a:1"), 100, 100, 100, 10, 10, FailMode.DENY, 10,
                TlsFiles.NONE, Set.of("broker"), true, 4, 128, 20, 1000, 10_000, FramesMode.AUTO);
        assertTrue(decider(config, new DecisionCache(config)).decide(question("broker")).join());
        assertTrue(service.requests.isEmpty());
        assertEquals(1, decisions("allow", "superuser"));
    }

    @Test
    void anEmptyRoleIsDeniedWithoutAsking() {
        DecisionCache cache = new DecisionCache(DecisionCacheTest.CONFIG);
        assertFalse(decider(DecisionCacheTest.CONFIG, cache).decide(question("")).join());
        assertTrue(service.requests.isEmpty());
    }

    @Test
    void answersOfTheActiveRevisionAreCachedAndEachCallHasItsOwnRequestId() {
        DecisionCache cache = activeCache(DecisionCacheTest.CONFIG, "r1");
        service.answer(false, "r1");
        Decider decider = decider(DecisionCacheTest.CONFIG, cache);
        assertFalse(decider.decide(question("writer")).join());
        assertFalse(decider.decide(question("writer")).join());
        assertEquals(1, service.requests.size(), "the deny of revision r1 was cached");
        assertFalse(service.requests.get(0).getRequestId().isEmpty());
        assertEquals(1, decisions("deny", "policy"));
        assertEquals(1, decisions("deny", "cached"));
        metrics.watchCache(cache);
        assertEquals(1.0, registry.getSampleValue("meshgate_shim_cache_hits_total"));
        assertEquals(0.5, registry.getSampleValue("meshgate_shim_cache_hit_ratio"));
    }

    @Test
    void errorsDenyAndAreNeverCached() {
        DecisionCache cache = activeCache(DecisionCacheTest.CONFIG, "r1");
        service.fail(Status.INTERNAL).fail(Status.INVALID_ARGUMENT).answer(true, "r1");
        Decider decider = decider(DecisionCacheTest.CONFIG, cache);
        assertFalse(decider.decide(question("reader")).join());
        assertFalse(decider.decide(question("reader")).join());
        assertTrue(decider.decide(question("reader")).join());
        assertEquals(3, service.requests.size());
        assertEquals(2, decisions("deny", "service_error"));
        assertEquals(2.0, registry.getSampleValue("meshgate_shim_errors_total", new String[] {"call", "reason"},
                new String[] {"authorize", "service_error"}));
    }

    @Test
    void aBusyServiceIsAskedAgainAndItsAnswerDecides() {
        DecisionCache cache = activeCache(DecisionCacheTest.CONFIG, "r1");
        service.fail(Status.RESOURCE_EXHAUSTED).fail(Status.DEADLINE_EXCEEDED).fail(Status.UNAVAILABLE)
                .answer(true, "r1");
        assertTrue(decider(DecisionCacheTest.CONFIG, cache).decide(question("reader")).join());
        assertEquals(4, service.requests.size());
        assertEquals(1, decisions("allow", "policy"));
        assertEquals(0, decisions("deny", "overloaded"));
        assertEquals(1, service.requests.stream().map(AuthorizeRequest::getRequestId).distinct().count(),
                "one question, asked again under its own request id");
    }

    @Test
    void aDenyIsFinal() {
        DecisionCache cache = activeCache(DecisionCacheTest.CONFIG, "r1");
        service.answer(false, "r1").answer(true, "r1");
        assertFalse(decider(DecisionCacheTest.CONFIG, cache).decide(question("reader")).join());
        assertEquals(1, service.requests.size(), "a service answer is never asked again");
    }

    @Test
    void aServiceOverloadedForTheWholeBudgetDenies() {
        MeshgateConfig tight = MeshgateConfig.from(MeshgateConfigTest.conf("meshgateConnectDeadlineMillis", "60"));
        service.outage(Status.RESOURCE_EXHAUSTED);
        long began = System.nanoTime();
        assertFalse(decider(tight, activeCache(tight, "r1")).decide(question("reader")).join());
        assertTrue(System.nanoTime() - began < TimeUnit.MILLISECONDS.toNanos(60 + 40), "denied at its budget");
        assertTrue(service.requests.size() > 1, "asked again before giving up");
        assertEquals(1, decisions("deny", "overloaded"));
    }

    @Test
    void theConnectPathHasItsOwnBudget() {
        MeshgateConfig config = MeshgateConfig.from(MeshgateConfigTest.conf("meshgateDeadlineMillis", "50",
                "meshgateConnectDeadlineMillis", "5000"));
        service.answer(true, "r1").answer(true, "r1");
        Decider decider = decider(config, activeCache(config, "r1"));
        assertTrue(decider.decide(question("reader")).join());
        AuthorizeRequest admin = question("reader").toBuilder().setAction("namespace.get_topics").build();
        assertTrue(decider.decide(admin).join());
        long consume = service.deadlines.get(0).timeRemaining(TimeUnit.MILLISECONDS);
        long other = service.deadlines.get(1).timeRemaining(TimeUnit.MILLISECONDS);
        assertTrue(consume > 3000 && consume <= 3750, "topic.consume: 3/4 of 5 s for the first attempt: " + consume);
        assertTrue(other <= 38, "an admin question keeps the short budget: " + other);
    }

    @Test
    void aBugInTheCallDenies() {
        DecisionCache cache = new DecisionCache(DecisionCacheTest.CONFIG);
        Decider decider = decider(DecisionCacheTest.CONFIG, cache, (batch, deadline) -> {
            throw new IllegalStateException("boom");
        });
        assertFalse(decider.decide(question("reader")).join());
        assertEquals(1, decisions("deny", "internal_error"));
    }

    @Test
    void staleIfErrorRepeatsAnEarlierAllowButNeverInventsOne() {
        MeshgateConfig stale = MeshgateConfig.from(MeshgateConfigTest.conf("meshgateFailMode", "stale-if-error",
                "meshgateConnectDeadlineMillis", OUTAGE_BUDGET));
        DecisionCache cache = activeCache(stale, "r1");
        service.answer(true, "r1").outage(Status.UNAVAILABLE);
        Decider decider = decider(stale, cache);
        assertTrue(decider.decide(question("reader")).join());
        cache.suspend();
        assertTrue(decider.decide(question("reader")).join());
        assertFalse(decider.decide(question("writer")).join(), "never allowed before: denied");
        assertEquals(1, decisions("allow", "stale_if_error"));
    }

    @Test
    void withoutStaleIfErrorAnEarlierAllowDoesNotSurviveAnOutage() {
        MeshgateConfig config = MeshgateConfig.from(MeshgateConfigTest.conf("meshgateConnectDeadlineMillis",
                OUTAGE_BUDGET));
        DecisionCache cache = activeCache(config, "r1");
        service.answer(true, "r1").outage(Status.UNAVAILABLE);
        Decider decider = decider(config, cache);
        assertTrue(decider.decide(question("reader")).join());
        cache.suspend();
        assertFalse(decider.decide(question("reader")).join());
    }
}
