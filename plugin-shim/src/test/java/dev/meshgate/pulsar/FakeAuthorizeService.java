package dev.meshgate.pulsar;

import dev.meshgate.proto.v1.AuthorizeBatchRequest;
import dev.meshgate.proto.v1.AuthorizeBatchResponse;
import dev.meshgate.proto.v1.AuthorizeRequest;
import dev.meshgate.proto.v1.Decision;
import io.grpc.Deadline;
import io.grpc.Status;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * A scripted service: each question of a call takes the next queued answer, error or pending future, and
 * every call and question is recorded. A call fails on the first error it takes and, when it took a
 * pending future, answers once all of them are completed.
 */
final class FakeAuthorizeService implements AuthorizeCall {
    /** Every question asked, in order, whatever call it came in. */
    final List<AuthorizeRequest> requests = new ArrayList<>();
    final List<AuthorizeBatchRequest> batches = new ArrayList<>();
    /** The deadline of each call. */
    final List<Deadline> deadlines = new ArrayList<>();
    final List<Object> script = new ArrayList<>();
    private Status outage;

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

    /** Once the script is used up, every call fails with {@code status} (an outage; the shim asks again). */
    FakeAuthorizeService outage(Status status) {
        outage = status;
        return this;
    }

    /** The next question stays unanswered until the returned future is completed. */
    CompletableFuture<Decision> hold() {
        CompletableFuture<Decision> pending = new CompletableFuture<>();
        script.add(pending);
        return pending;
    }

    @Override
    @SuppressWarnings("unchecked")
    public synchronized CompletableFuture<AuthorizeBatchResponse> authorizeBatch(AuthorizeBatchRequest batch,
                                                                               Deadline deadline) {
        batches.add(batch);
        deadlines.add(deadline);
        requests.addAll(batch.getRequestsList());
        List<CompletableFuture<Decision>> answers = new ArrayList<>();
        for (int i = 0; i < batch.getRequestsCount(); i++) {
            if (script.isEmpty() && outage != null) {
                return CompletableFuture.failedFuture(outage.asRuntimeException());
            }
            Object next = script.remove(0);
            if (next instanceof RuntimeException error) {
                return CompletableFuture.failedFuture(error);
            }
            answers.add(next instanceof CompletableFuture<?> pending
                    ? (CompletableFuture<Decision>) pending : CompletableFuture.completedFuture((Decision) next));
        }
        return CompletableFuture.allOf(answers.toArray(CompletableFuture[]::new)).thenApply(done ->
                AuthorizeBatchResponse.newBuilder()
                        .addAllDecisions(answers.stream().map(CompletableFuture::join).toList()).build());
    }
}
