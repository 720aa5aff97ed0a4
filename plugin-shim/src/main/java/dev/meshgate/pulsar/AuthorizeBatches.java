package dev.meshgate.pulsar;

import dev.meshgate.proto.v1.AuthorizeBatchRequest;
import dev.meshgate.proto.v1.AuthorizeBatchResponse;
import dev.meshgate.proto.v1.AuthorizeRequest;
import dev.meshgate.proto.v1.Decision;
import io.grpc.Deadline;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledExecutorService;

/**
 * The Decider's questions as items of coalesced {@code AuthorizeBatch} calls. An item is one question with
 * the prefetches asked alongside it (a lookup's 1-3 requests), so they always travel in the same call and
 * come back as one list; the call's decisions are cut back into those lists by position.
 */
final class AuthorizeBatches {

    static final String RPC = "authorize_batch";

    private AuthorizeBatches() {
    }

    static Coalescer<List<AuthorizeRequest>, List<Decision>> coalescer(AuthorizeCall service, Coalescer.Limits limits,
                                                                       ScheduledExecutorService timer,
                                                                       ShimMetrics metrics) {
        return new Coalescer<>(RPC, limits, AuthorizeBatches::bytes,
                (items, deadline) -> call(service, items, deadline), timer, metrics);
    }

    private static int bytes(List<AuthorizeRequest> item) {
        int total = 0;
        for (AuthorizeRequest request : item) {
            total += request.getSerializedSize();
        }
        return total;
    }

    static CompletableFuture<List<List<Decision>>> call(AuthorizeCall service, List<List<AuthorizeRequest>> items,
                                                        Deadline deadline) {
        AuthorizeBatchRequest.Builder batch = AuthorizeBatchRequest.newBuilder();
        items.forEach(batch::addAllRequests);
        int asked = batch.getRequestsCount();
        return service.authorizeBatch(batch.build(), deadline).thenApply(response -> split(response, items, asked));
    }

    private static List<List<Decision>> split(AuthorizeBatchResponse response, List<List<AuthorizeRequest>> items,
                                              int asked) {
        if (response.getDecisionsCount() != asked) {
            throw new IllegalStateException("meshgate answered " + response.getDecisionsCount() + " decisions for "
                    + asked + " questions");
        }
        List<List<Decision>> answers = new ArrayList<>(items.size());
        int next = 0;
        for (List<AuthorizeRequest> item : items) {
            answers.add(response.getDecisionsList().subList(next, next + item.size()));
            next += item.size();
        }
        return answers;
    }
}
