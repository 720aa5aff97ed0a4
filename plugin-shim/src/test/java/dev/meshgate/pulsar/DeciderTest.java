package dev.meshgate.pulsar;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class DeciderTest extends DeciderFixture {

    @Test
    void superUsersShortCircuit() {
        MeshgateConfig config = new MeshgateConfig(List.of("a:1"), 100, 100, 10, 10, FailMode.DENY, 10,
                TlsFiles.NONE, Set.of("broker"), true, 4, 128, 20);
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
        service.fail(Status.DEADLINE_EXCEEDED).fail(Status.UNAVAILABLE).answer(true, "r1");
        Decider decider = decider(DecisionCacheTest.CONFIG, cache);
        assertFalse(decider.decide(question("reader")).join());
        assertFalse(decider.decide(question("reader")).join());
        assertTrue(decider.decide(question("reader")).join());
        assertEquals(3, service.requests.size());
        assertEquals(1, decisions("deny", "deadline_exceeded"));
        assertEquals(1, decisions("deny", "service_unavailable"));
        assertEquals(1.0, registry.getSampleValue("meshgate_shim_errors_total", new String[] {"call", "reason"},
                new String[] {"authorize", "deadline_exceeded"}));
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
        DecisionCache cache = activeCache(DecisionCacheTest.STALE, "r1");
        service.answer(true, "r1").fail(Status.UNAVAILABLE).fail(Status.UNAVAILABLE);
        Decider decider = decider(DecisionCacheTest.STALE, cache);
        assertTrue(decider.decide(question("reader")).join());
        cache.suspend();
        assertTrue(decider.decide(question("reader")).join());
        assertFalse(decider.decide(question("writer")).join(), "never allowed before: denied");
        assertEquals(1, decisions("allow", "stale_if_error"));
    }

    @Test
    void withoutStaleIfErrorAnEarlierAllowDoesNotSurviveAnOutage() {
        DecisionCache cache = activeCache(DecisionCacheTest.CONFIG, "r1");
        service.answer(true, "r1").fail(Status.UNAVAILABLE);
        Decider decider = decider(DecisionCacheTest.CONFIG, cache);
        assertTrue(decider.decide(question("reader")).join());
        cache.suspend();
        assertFalse(decider.decide(question("reader")).join());
    }
}
