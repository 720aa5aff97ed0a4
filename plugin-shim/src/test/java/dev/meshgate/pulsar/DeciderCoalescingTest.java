package dev.meshgate.pulsar;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshgate.proto.v1.AuthorizeBatchRequest;
import dev.meshgate.proto.v1.AuthorizeBatchResponse;
import dev.meshgate.proto.v1.AuthorizeRequest;
import dev.meshgate.proto.v1.Decision;
import dev.meshgate.proto.v1.Resource;
import io.grpc.Deadline;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

/** Questions the Decider sends while a call is outstanding go out together, each answered with its own decision. */
class DeciderCoalescingTest extends DeciderFixture {

    private static final MeshgateConfig ONE_CALL = MeshgateConfig.from(MeshgateConfigTest.conf(
            "meshgateMaxCallsInFlight", "1", "meshgateDeadlineMillis", "60000"));

    /** Allows exactly the principals whose name starts with "w"; the first call waits for {@link #release}. */
    private static final class ByPrincipal implements AuthorizeCall {
        final List<AuthorizeBatchRequest> calls = new ArrayList<>();
        final CompletableFuture<Void> release = new CompletableFuture<>();

        @Override
        public synchronized CompletableFuture<AuthorizeBatchResponse> authorizeBatch(AuthorizeBatchRequest batch,
                                                                                   Deadline deadline) {
            calls.add(batch);
            AuthorizeBatchResponse.Builder response = AuthorizeBatchResponse.newBuilder();
            for (AuthorizeRequest request : batch.getRequestsList()) {
                response.addDecisions(Decision.newBuilder().setRevision("r1")
                        .setAllowed(request.getPrincipal().startsWith("w")));
            }
            CompletableFuture<Void> gate = calls.size() == 1 ? release : CompletableFuture.completedFuture(null);
            return gate.thenApply(ignored -> response.build());
        }
    }

    @Test
    void distinctQuestionsAskedWhileACallIsOutstandingShareTheNextCall() {
        ByPrincipal call = new ByPrincipal();
        Decider decider = decider(ONE_CALL, activeCache(ONE_CALL, "r1"), call);
        CompletableFuture<Boolean> first = decider.decide(question("writer-0"));
        List<String> principals = List.of("writer-1", "reader-1", "writer-2", "reader-2", "writer-3");
        List<CompletableFuture<Boolean>> queued = new ArrayList<>();
        principals.forEach(principal -> queued.add(decider.decide(question(principal))));
        assertEquals(1, call.calls.size(), "the rest wait for the one call slot");
        call.release.complete(null);
        assertTrue(first.join());
        for (int i = 0; i < principals.size(); i++) {
            assertEquals(principals.get(i).startsWith("w"), queued.get(i).join(), principals.get(i));
        }
        assertEquals(2, call.calls.size(), "six questions, two calls");
        assertEquals(principals, call.calls.get(1).getRequestsList().stream().map(AuthorizeRequest::getPrincipal)
                .toList());
        assertEquals(4, decisions("allow", "policy"));
        assertEquals(2, decisions("deny", "policy"));
        assertEquals(2.0, registry.getSampleValue("meshgate_shim_batch_items_count", new String[] {"rpc"},
                new String[] {"authorize_batch"}));
        assertEquals(6.0, registry.getSampleValue("meshgate_shim_batch_items_sum", new String[] {"rpc"},
                new String[] {"authorize_batch"}));
    }

    @Test
    void aLookupAndItsPrefetchesStayTogetherInACoalescedCall() {
        ByPrincipal call = new ByPrincipal();
        DecisionCache cache = activeCache(ONE_CALL, "r1");
        Decider decider = decider(ONE_CALL, cache, call);
        CompletableFuture<Boolean> first = decider.decide(question("writer-0"));
        CompletableFuture<Boolean> read = decider.decide(question("reader-1"));
        AuthorizeRequest lookup = AuthorizeRequest.newBuilder().setPrincipal("writer-2").setAction("topic.lookup")
                .setResource(Resource.newBuilder().setTopic("persistent://acme/payments/orders")).build();
        CompletableFuture<Boolean> looked = decider.decide(lookup);
        call.release.complete(null);
        assertTrue(first.join());
        assertFalse(read.join());
        assertTrue(looked.join());
        assertEquals(List.of("topic.consume", "topic.lookup", "topic.produce", "topic.consume"),
                call.calls.get(1).getRequestsList().stream().map(AuthorizeRequest::getAction).toList());
        assertTrue(decider.decide(lookup.toBuilder().setAction("topic.produce").build()).join(), "prefetched");
        assertEquals(2, call.calls.size());
    }

    @Test
    void aQuestionWhoseDeadlinePassesInTheQueueIsDeniedLikeATimeout() {
        MeshgateConfig shortDeadline = MeshgateConfig.from(MeshgateConfigTest.conf(
                "meshgateMaxCallsInFlight", "1", "meshgateConnectDeadlineMillis", "400"));
        ByPrincipal call = new ByPrincipal();
        Decider decider = decider(shortDeadline, activeCache(shortDeadline, "r1"), call);
        CompletableFuture<Boolean> first = decider.decide(question("writer-0"));
        assertFalse(decider.decide(question("writer-1")).join(), "denied at its deadline, the call still held");
        assertEquals(1, call.calls.size());
        assertEquals(1, decisions("deny", "deadline_exceeded"));
        assertEquals(1.0, registry.getSampleValue("meshgate_shim_errors_total", new String[] {"call", "reason"},
                new String[] {"authorize", "deadline_exceeded"}));
        assertEquals(2.0, registry.getSampleValue("meshgate_shim_queue_expired_total", new String[] {"rpc"},
                new String[] {"authorize_batch"}), "the question and its one retry on DEADLINE_EXCEEDED");
        assertEquals(1.0, registry.getSampleValue("meshgate_shim_retries_total", new String[] {"call", "reason"},
                new String[] {"authorize", "deadline_exceeded"}));
        call.release.complete(null);
        assertTrue(first.join());
        assertEquals(1, call.calls.size(), "the expired question was never sent");
    }
}
