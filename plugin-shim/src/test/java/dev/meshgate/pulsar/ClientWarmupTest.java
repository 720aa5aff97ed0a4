package dev.meshgate.pulsar;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshgate.proto.v1.AuthorizeBatchRequest;
import dev.meshgate.proto.v1.AuthorizeBatchResponse;
import dev.meshgate.proto.v1.AuthorizeRequest;
import dev.meshgate.proto.v1.AuthorizeResponse;
import io.grpc.Status;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class ClientWarmupTest {

    /** Answers empty batches until {@code failAfter} calls, then UNAVAILABLE; counts calls and their size. */
    static final class CountingService implements AuthorizeCall {
        final AtomicInteger calls = new AtomicInteger();
        final AtomicInteger questions = new AtomicInteger();
        final int failAfter;

        CountingService(int failAfter) {
            this.failAfter = failAfter;
        }

        @Override
        public CompletableFuture<AuthorizeResponse> authorize(AuthorizeRequest request) {
            throw new AssertionError("the warm-up asks no question");
        }

        @Override
        public CompletableFuture<AuthorizeBatchResponse> authorizeBatch(AuthorizeBatchRequest request) {
            questions.addAndGet(request.getRequestsCount());
            if (calls.incrementAndGet() > failAfter) {
                return CompletableFuture.failedFuture(Status.UNAVAILABLE.asRuntimeException());
            }
            return CompletableFuture.completedFuture(AuthorizeBatchResponse.getDefaultInstance());
        }
    }

    @Test
    void makesExactlyTheConfiguredNumberOfEmptyCalls() {
        CountingService service = new CountingService(Integer.MAX_VALUE);
        assertEquals(250, ClientWarmup.start(service, 250).join());
        assertEquals(250, service.calls.get());
        assertEquals(0, service.questions.get(), "empty batches: nothing is decided, nothing is audited");
    }

    @Test
    void theFirstFailureEndsIt() {
        CountingService service = new CountingService(10);
        int answered = ClientWarmup.start(service, 1_000).join();
        assertEquals(10, answered);
        assertTrue(service.calls.get() <= 10 + ClientWarmup.IN_FLIGHT, "no call started after the failure");
    }

    @Test
    void zeroTurnsItOff() {
        CountingService service = new CountingService(Integer.MAX_VALUE);
        assertEquals(0, ClientWarmup.start(service, 0).join());
        assertEquals(0, service.calls.get());
    }
}
