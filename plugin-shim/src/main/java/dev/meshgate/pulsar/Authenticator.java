package dev.meshgate.pulsar;

import dev.meshgate.proto.v1.AuthenticateBatchRequest;
import dev.meshgate.proto.v1.AuthenticateBatchResponse;
import dev.meshgate.proto.v1.AuthenticateRequest;
import dev.meshgate.proto.v1.AuthenticateResponse;
import io.grpc.Deadline;
import io.grpc.Status;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sends each authentication as an item of coalesced {@code AuthenticateBatch} calls, so a reconnect storm
 * costs the service a few large calls instead of one per client. A service older than that RPC (see
 * {@link #lacksBatch}) gets its questions again as unary {@code Authenticate} calls within their own
 * deadline, and every later one too, for the life of this client. Within the authentication budget a busy or
 * restarting service is asked again ({@link Retrier}).
 */
final class Authenticator {

    static final String RPC = "authenticate_batch";
    private static final Logger LOG = LoggerFactory.getLogger(Authenticator.class);

    private final AuthenticateCall service;
    private final long deadlineMillis;
    private final Coalescer<AuthenticateRequest, AuthenticateResponse> batches;
    private final Retrier retrier;
    private final AtomicBoolean unaryOnly = new AtomicBoolean();

    Authenticator(AuthenticateCall service, MeshgateConfig config, ScheduledExecutorService timer,
                  ShimMetrics metrics) {
        this.service = service;
        this.deadlineMillis = config.authnDeadlineMillis();
        this.batches = new Coalescer<>(RPC, config.coalescing(), AuthenticateRequest::getSerializedSize,
                this::callBatch, timer, metrics);
        this.retrier = new Retrier("authenticate", timer, metrics);
    }

    CompletableFuture<AuthenticateResponse> authenticate(AuthenticateRequest request) {
        Deadline budget = Deadline.after(deadlineMillis, TimeUnit.MILLISECONDS);
        return retrier.call(budget, deadline -> once(request, deadline));
    }

    private CompletableFuture<AuthenticateResponse> once(AuthenticateRequest request, Deadline deadline) {
        if (unaryOnly.get()) {
            return service.authenticate(request, deadline);
        }
        return batches.submit(request, deadline).exceptionallyCompose(error -> {
            if (!lacksBatch(error)) {
                return CompletableFuture.failedFuture(error);
            }
            if (unaryOnly.compareAndSet(false, true)) {
                LOG.warn("meshgate: the service does not implement AuthenticateBatch ({}, an older version); "
                        + "authenticating with one Authenticate call per connection from now on",
                        GrpcErrors.describe(error));
            }
            return service.authenticate(request, deadline);
        });
    }

    /** A service built before AuthenticateBatch answers {@code UNIMPLEMENTED}; unary Authenticate is right. */
    static boolean lacksBatch(Throwable error) {
        return Status.fromThrowable(GrpcErrors.unwrap(error)).getCode() == Status.Code.UNIMPLEMENTED;
    }

    private CompletableFuture<List<AuthenticateResponse>> callBatch(List<AuthenticateRequest> requests,
                                                                    Deadline deadline) {
        AuthenticateBatchRequest batch = AuthenticateBatchRequest.newBuilder().addAllRequests(requests).build();
        return service.authenticateBatch(batch, deadline).thenApply(AuthenticateBatchResponse::getResponsesList);
    }
}
