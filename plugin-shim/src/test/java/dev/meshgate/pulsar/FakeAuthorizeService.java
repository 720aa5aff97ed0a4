package dev.meshgate.pulsar;

import dev.meshgate.proto.v1.AuthorizeBatchRequest;
import dev.meshgate.proto.v1.AuthorizeBatchResponse;
import dev.meshgate.proto.v1.AuthorizeRequest;
import dev.meshgate.proto.v1.AuthorizeResponse;
import dev.meshgate.proto.v1.Decision;
import io.grpc.Status;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * A scripted service: answers with the next queued response, error or pending future, and records each
 * request. A batch takes one queued entry per question.
 */
final class FakeAuthorizeService implements AuthorizeCall {
    final List<AuthorizeRequest> requests = new ArrayList<>();
    final List<AuthorizeBatchRequest> batches = new ArrayList<>();
    final List<Object> script = new ArrayList<>();

    FakeAuthorizeService answer(boolean allowed, String revision) {
        script.add(Decision.newBuilder().setAllowed(allowed).setRevision(revision).build());
        return this;
    }

    /** An answer the service says holds for every subscription name. */
    FakeAuthorizeService answerForAnySubscription(boolean allowed, String revision) {
        script.add(Decision.newBuilder().setAllowed(allowed).setRevision(revision).setAnySubscription(true).build());
        return this;
    }

    FakeAuthorizeService fail(Status status) {
        script.add(status.asRuntimeException());
        return this;
    }

    /** The next call stays unanswered until the returned future is completed. */
    CompletableFuture<Decision> hold() {
        CompletableFuture<Decision> pending = new CompletableFuture<>();
        script.add(pending);
        return pending;
    }

    @Override
    @SuppressWarnings("unchecked")
    public synchronized CompletableFuture<AuthorizeResponse> authorize(AuthorizeRequest request) {
        requests.add(request);
        Object next = script.remove(0);
        if (next instanceof RuntimeException error) {
            return CompletableFuture.failedFuture(error);
        }
        if (next instanceof CompletableFuture<?> pending) {
            return ((CompletableFuture<Decision>) pending)
                    .thenApply(decision -> AuthorizeResponse.newBuilder().setDecision(decision).build());
        }
        return CompletableFuture.completedFuture(AuthorizeResponse.newBuilder().setDecision((Decision) next).build());
    }

    @Override
    public synchronized CompletableFuture<AuthorizeBatchResponse> authorizeBatch(AuthorizeBatchRequest batch) {
        batches.add(batch);
        AuthorizeBatchResponse.Builder response = AuthorizeBatchResponse.newBuilder();
        for (int i = 0; i < batch.getRequestsCount(); i++) {
            Object next = script.remove(0);
            if (next instanceof RuntimeException error) {
                return CompletableFuture.failedFuture(error);
            }
            response.addDecisions((Decision) next);
        }
        return CompletableFuture.completedFuture(response.build());
    }
}
