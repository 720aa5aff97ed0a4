package dev.meshgate.pulsar;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshgate.proto.v1.AuthorizeRequest;
import dev.meshgate.proto.v1.Decision;
import dev.meshgate.proto.v1.Peer;
import dev.meshgate.proto.v1.ServedDecision;
import io.grpc.Status;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

/**
 * Every answer the service did not decide in that call is noted for the audit trail, with the decision that
 * was served, the question's peer and credential kind; answers the service gave are not (it audits them).
 */
class DeciderAuditTest extends DeciderFixture {

    private static AuthorizeRequest asked(String principal, String peer) {
        return question(principal).toBuilder().clearRequestId()
                .setPeer(Peer.newBuilder().setAddress(peer).setAuthMethod("tls").setTransport("binary"))
                .setCredentialKind("x509_svid").build();
    }

    private List<String> servedBy(List<ServedDecision> entries) {
        return entries.stream().map(ServedDecision::getServedBy).toList();
    }

    @Test
    void cachedAllowsAndDeniesAreNotedWithTheDecisionThatWasServed() {
        DecisionCache cache = activeCache(DecisionCacheTest.CONFIG, "r1");
        service.script.add(Decision.newBuilder().setAllowed(true).setRevision("r1").setRuleId("p#writer").build());
        service.answer(false, "r1");
        Decider decider = decider(DecisionCacheTest.CONFIG, cache);
        assertTrue(decider.decide(asked("writer", "10.0.0.1:1")).join());
        assertFalse(decider.decide(asked("reader", "10.0.0.2:2")).join());
        assertTrue(served.drain().isEmpty(), "the service audits its own answers");
        assertTrue(decider.decide(asked("writer", "10.0.0.3:3")).join());
        assertTrue(decider.decide(asked("writer", "10.0.0.3:3")).join());
        assertFalse(decider.decide(asked("reader", "10.0.0.2:2")).join());
        assertFalse(decider.decide(asked("reader", "10.0.0.2:2")).join());
        List<ServedDecision> entries = served.drain();
        assertEquals(List.of("shim_cache", "shim_cache", "shim_cache"), servedBy(entries));
        ServedDecision allow = entries.stream().filter(e -> e.getDecision().getAllowed()).findFirst().orElseThrow();
        assertEquals(2, allow.getCount());
        assertEquals("p#writer", allow.getDecision().getRuleId());
        assertEquals("r1", allow.getDecision().getRevision());
        assertEquals("10.0.0.3:3", allow.getQuestion().getPeer().getAddress(), "this question's peer, not the first");
        assertEquals("x509_svid", allow.getQuestion().getCredentialKind());
        assertEquals(2, entries.stream().filter(e -> !e.getDecision().getAllowed()).count(), "each deny alone");
        assertEquals(2, service.requests.size(), "two questions reached the service, the rest were cached");
    }

    @Test
    void superUsersAndEmptyRolesAreNoted() {
        MeshgateConfig config = new MeshgateConfig(List.of("a:1"), 100, 100, 100, 10, 10, FailMode.DENY, 10,
                TlsFiles.NONE, Set.of("broker"), true, 4, 128, 20, 1000, 10_000, FramesMode.AUTO);
        Decider decider = decider(config, new DecisionCache(config));
        assertTrue(decider.decide(asked("broker", "10.0.0.9:9")).join());
        assertFalse(decider.decide(question("")).join());
        List<ServedDecision> entries = served.drain();
        assertEquals(List.of("shim_no_role", "shim_superuser"), servedBy(entries));
        assertEquals("superuser", entries.get(1).getDecision().getReasonCode());
        assertEquals("", entries.get(1).getDecision().getRevision(), "broker.conf decided, not a policy revision");
    }

    @Test
    void aDenyBecauseTheServiceCouldNotDecideIsNotedWithTheCallsRequestId() {
        DecisionCache cache = activeCache(DecisionCacheTest.CONFIG, "r1");
        service.fail(Status.INTERNAL);
        assertFalse(decider(DecisionCacheTest.CONFIG, cache).decide(asked("reader", "10.0.0.2:2")).join());
        ServedDecision entry = served.drain().get(0);
        assertEquals("shim_error", entry.getServedBy());
        assertEquals("service_error", entry.getDecision().getReasonCode());
        assertEquals(service.requests.get(0).getRequestId(), entry.getQuestion().getRequestId());
    }

    @Test
    void aStaleAllowIsNotedWithTheRevisionThatDecidedIt() {
        DecisionCache cache = activeCache(DecisionCacheTest.STALE, "r1");
        service.answer(true, "r1").fail(Status.INTERNAL);
        Decider decider = decider(DecisionCacheTest.STALE, cache);
        assertTrue(decider.decide(asked("reader", "10.0.0.2:2")).join());
        cache.suspend();  // the stream is down: nothing is served from the cache, the service is asked
        assertTrue(decider.decide(asked("reader", "10.0.0.2:2")).join());
        ServedDecision entry = served.drain().get(0);
        assertEquals("stale_if_error", entry.getServedBy());
        assertEquals("r1", entry.getDecision().getRevision());
    }

    @Test
    void aQuestionThatJoinedACallInFlightIsNotedAsShared() {
        DecisionCache cache = activeCache(DecisionCacheTest.CONFIG, "r1");
        CompletableFuture<Decision> pending = service.hold();
        Decider decider = decider(DecisionCacheTest.CONFIG, cache);
        CompletableFuture<Boolean> first = decider.decide(asked("writer", "10.0.0.1:1"));
        CompletableFuture<Boolean> joined = decider.decide(asked("writer", "10.0.0.4:4"));
        pending.complete(Decision.newBuilder().setAllowed(true).setRevision("r1").build());
        assertTrue(first.join() && joined.join());
        List<ServedDecision> entries = served.drain();
        assertEquals(List.of("shim_inflight"), servedBy(entries));
        assertEquals("10.0.0.4:4", entries.get(0).getQuestion().getPeer().getAddress());
    }

    @Test
    void peerAndCredentialKindNeverSplitTheCache() {
        DecisionCache cache = activeCache(DecisionCacheTest.CONFIG, "r1");
        service.answer(true, "r1");
        Decider decider = decider(DecisionCacheTest.CONFIG, cache);
        assertTrue(decider.decide(asked("writer", "10.0.0.1:1")).join());
        assertTrue(decider.decide(asked("writer", "10.0.0.2:2").toBuilder().setCredentialKind("linkerd_cert")
                .build()).join());
        assertEquals(1, service.requests.size(), "another connection of the same principal: a cache hit");
        assertEquals("10.0.0.1:1", service.requests.get(0).getPeer().getAddress(), "the service is told the peer");
    }
}
