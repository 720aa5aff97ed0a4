package dev.meshgate.pulsar;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshgate.proto.v1.AuthorizeBatchRequest;
import dev.meshgate.proto.v1.AuthorizeBatchResponse;
import dev.meshgate.proto.v1.AuthorizeRequest;
import dev.meshgate.proto.v1.Decision;
import dev.meshgate.proto.v1.Resource;
import io.grpc.Status;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

/** The Decider's round-trip savers: the produce/consume prefetch on a lookup miss, sharing of in-flight calls. */
class DeciderSharingTest extends DeciderFixture {

    private static AuthorizeRequest lookup(String principal, String topic) {
        return AuthorizeRequest.newBuilder().setPrincipal(principal).setAction("topic.lookup")
                .setResource(Resource.newBuilder().setTopic(topic)).build();
    }

    private static AuthorizeRequest produce(String principal, String topic) {
        return lookup(principal, topic).toBuilder().setAction("topic.produce").build();
    }

    private double prefetches(String result) {
        Double value = registry.getSampleValue("meshgate_shim_prefetches_total", new String[] {"result"},
                new String[] {result});
        return value == null ? 0 : value;
    }

    private static AuthorizeRequest consume(String principal, String topic, String subscription) {
        return lookup(principal, topic).toBuilder().setAction("topic.consume").setSubscription(subscription).build();
    }

    @Test
    void aLookupThatMissesAsksForProduceAndConsumeInTheSameCallAndCachesTheAnswers() {
        DecisionCache cache = activeCache(DecisionCacheTest.CONFIG, "r1");
        service.answer(true, "r1").answer(true, "r1").answerForAnySubscription(true, "r1");
        Decider decider = decider(DecisionCacheTest.CONFIG, cache);
        String topic = "persistent://acme/payments/orders";
        assertTrue(decider.decide(lookup("writer", topic)).join());
        assertEquals(1, service.batches.size());
        AuthorizeBatchRequest batch = service.batches.get(0);
        assertEquals(List.of("topic.lookup", "topic.produce", "topic.consume"),
                batch.getRequestsList().stream().map(AuthorizeRequest::getAction).toList());
        assertFalse(batch.getRequests(0).getPrefetch());
        assertTrue(batch.getRequests(1).getPrefetch(), "the service is told these questions are prefetches");
        assertTrue(batch.getRequests(2).getPrefetch());
        assertEquals("", batch.getRequests(2).getSubscription());
        assertEquals(topic, batch.getRequests(1).getResource().getTopic());
        assertTrue(decider.decide(produce("writer", topic)).join());
        assertTrue(decider.decide(consume("writer", topic, "billing")).join());
        assertTrue(decider.decide(consume("writer", topic, "any-other")).join());
        assertTrue(decider.decide(lookup("writer", topic)).join());
        assertEquals(1, service.batches.size(), "every answer came from the cache");
        assertEquals(2, prefetches("allow"));
        assertEquals(4, decisions("allow", "cached"));
    }

    @Test
    void aConsumeAnswerThatDependsOnTheSubscriptionIsNotReusedForOtherNames() {
        DecisionCache cache = activeCache(DecisionCacheTest.CONFIG, "r1");
        service.answer(true, "r1").answer(true, "r1").answer(false, "r1").answer(true, "r1");
        Decider decider = decider(DecisionCacheTest.CONFIG, cache);
        String topic = "persistent://acme/payments/orders";
        assertTrue(decider.decide(lookup("reader", topic)).join());
        assertTrue(decider.decide(consume("reader", topic, "reader-1")).join(), "asked, not the prefetched deny");
        assertEquals(2, service.batches.size());
        assertEquals(List.of(consume("reader", topic, "reader-1")), service.batches.get(1).getRequestsList().stream()
                .map(request -> request.toBuilder().clearRequestId().build()).toList());
    }

    @Test
    void aPrefetchedDenyIsCachedAsADeny() {
        DecisionCache cache = activeCache(DecisionCacheTest.CONFIG, "r1");
        service.answer(true, "r1").answer(false, "r1").answerForAnySubscription(false, "r1");
        Decider decider = decider(DecisionCacheTest.CONFIG, cache);
        assertTrue(decider.decide(lookup("reader", "persistent://acme/payments/orders")).join());
        assertFalse(decider.decide(produce("reader", "persistent://acme/payments/orders")).join());
        assertFalse(decider.decide(consume("reader", "persistent://acme/payments/orders", "s")).join());
        assertEquals(2, prefetches("deny"));
        assertEquals(2, decisions("deny", "cached"));
    }

    @Test
    void onlyFollowersNotCachedArePrefetchedAndNoneWhenPrefetchIsOff() {
        DecisionCache cache = activeCache(DecisionCacheTest.CONFIG, "r1");
        service.answer(true, "r1").answer(true, "r1").answer(true, "r1").answer(true, "r1");
        Decider decider = decider(DecisionCacheTest.CONFIG, cache);
        assertTrue(decider.decide(produce("writer", "persistent://acme/payments/a")).join());
        assertTrue(decider.decide(lookup("writer", "persistent://acme/payments/a")).join());
        assertEquals(List.of("topic.lookup", "topic.consume"), service.batches.get(1).getRequestsList().stream()
                .map(AuthorizeRequest::getAction).toList(), "produce was already cached");
        MeshgateConfig off = MeshgateConfig.from(MeshgateConfigTest.conf("meshgatePrefetchOnLookup", "false"));
        DecisionCache fresh = activeCache(off, "r1");
        assertTrue(decider(off, fresh).decide(lookup("writer", "persistent://acme/payments/b")).join());
        assertEquals(3, service.batches.size());
        assertEquals(1, service.batches.get(2).getRequestsCount(), "the lookup alone");
    }

    @Test
    void aBatchAnswerOfTheWrongShapeDeniesAndCachesNothing() {
        DecisionCache cache = activeCache(DecisionCacheTest.CONFIG, "r1");
        Decider decider = decider(DecisionCacheTest.CONFIG, cache, (batch, deadline) ->
                CompletableFuture.completedFuture(AuthorizeBatchResponse.newBuilder()
                        .addDecisions(Decision.newBuilder().setAllowed(true).setRevision("r1")).build()));
        assertFalse(decider.decide(lookup("writer", "persistent://acme/payments/orders")).join());
        assertEquals(0, cache.size());
        assertEquals(1, decisions("deny", "internal_error"));
    }

    @Test
    void identicalQuestionsInFlightShareOneCall() {
        DecisionCache cache = activeCache(DecisionCacheTest.CONFIG, "r1");
        CompletableFuture<Decision> pending = service.hold();
        Decider decider = decider(DecisionCacheTest.CONFIG, cache);
        CompletableFuture<Boolean> first = decider.decide(question("writer"));
        CompletableFuture<Boolean> second = decider.decide(question("writer"));
        assertFalse(first.isDone());
        assertEquals(1, service.requests.size(), "the second question joined the first call");
        pending.complete(Decision.newBuilder().setAllowed(true).setRevision("r1").build());
        assertTrue(first.join());
        assertTrue(second.join());
        assertEquals(2, decisions("allow", "policy"), "one service answer, given to both questions");
        Double joined = registry.getSampleValue("meshgate_shim_decision_seconds_count", new String[] {"source"},
                new String[] {"inflight"});
        assertEquals(1.0, joined);
    }

    @Test
    void aFailedCallDeniesEveryQuestionThatJoinedIt() {
        DecisionCache cache = activeCache(DecisionCacheTest.CONFIG, "r1");
        CompletableFuture<Decision> pending = service.hold();
        Decider decider = decider(DecisionCacheTest.CONFIG, cache);
        CompletableFuture<Boolean> first = decider.decide(question("writer"));
        CompletableFuture<Boolean> second = decider.decide(question("writer"));
        pending.completeExceptionally(Status.INTERNAL.asRuntimeException());
        assertFalse(first.join());
        assertFalse(second.join());
        assertEquals(2, decisions("deny", "service_error"));
        assertEquals(0, cache.size());
    }

    @Test
    void aQuestionAskedUnderANewRevisionNeverJoinsACallMadeUnderTheOldOne() {
        DecisionCache cache = activeCache(DecisionCacheTest.CONFIG, "r1");
        CompletableFuture<Decision> old = service.hold();
        service.answer(false, "r2");
        Decider decider = decider(DecisionCacheTest.CONFIG, cache);
        CompletableFuture<Boolean> before = decider.decide(question("writer"));
        cache.activate("r2");
        CompletableFuture<Boolean> after = decider.decide(question("writer"));
        assertFalse(after.join(), "the new revision's deny (its call went out once the old one counted as stalled)");
        assertEquals(2, service.requests.size(), "a re-check after the policy change makes its own call");
        old.complete(Decision.newBuilder().setAllowed(true).setRevision("r1").build());
        assertTrue(before.join());
        assertFalse(decider.decide(question("writer")).join(), "the old allow was not cached under r2");
    }

    @Test
    void questionsAreNotSharedWhileTheRevisionIsUnknown() {
        DecisionCache cache = new DecisionCache(DecisionCacheTest.CONFIG);
        CompletableFuture<Decision> pending = service.hold();
        service.answer(true, "r1");
        Decider decider = decider(DecisionCacheTest.CONFIG, cache);
        CompletableFuture<Boolean> first = decider.decide(question("writer"));
        assertTrue(decider.decide(question("writer")).join());
        assertEquals(2, service.requests.size());
        pending.complete(Decision.newBuilder().setAllowed(true).setRevision("r1").build());
        assertTrue(first.join());
    }
}
