package dev.meshgate.pulsar;

import com.google.common.util.concurrent.FutureCallback;
import com.google.common.util.concurrent.Futures;
import com.google.common.util.concurrent.ListenableFuture;
import com.google.common.util.concurrent.MoreExecutors;
import dev.meshgate.proto.v1.AuthenticateBatchRequest;
import dev.meshgate.proto.v1.AuthenticateBatchResponse;
import dev.meshgate.proto.v1.AuthenticateRequest;
import dev.meshgate.proto.v1.AuthenticateResponse;
import dev.meshgate.proto.v1.AuthenticationGrpc;
import dev.meshgate.proto.v1.AuthorizationGrpc;
import dev.meshgate.proto.v1.AuthorizeBatchRequest;
import dev.meshgate.proto.v1.AuthorizeBatchResponse;
import dev.meshgate.proto.v1.ReportServedRequest;
import dev.meshgate.proto.v1.ReportServedResponse;
import dev.meshgate.proto.v1.RevisionEvent;
import dev.meshgate.proto.v1.WatchRevisionRequest;
import io.grpc.ConnectivityState;
import io.grpc.Deadline;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.io.Closeable;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * One gRPC channel per service target, tried in order: a call moves to the next target only when the
 * current one is UNAVAILABLE, and all attempts share the caller's deadline. Every call is asynchronous, so
 * no broker network thread ever waits on the service.
 */
public final class MeshgateClient implements Closeable, AuthorizeCall, AuthenticateCall, ReportCall {

    /** How often a broken channel skips gRPC's reconnect backoff, bounding recovery after a restart. */
    static final long RECONNECT_CHECK_MILLIS = 250;
    /** How a DEADLINE_EXCEEDED description starts when the call never got a connection to the service. */
    static final String NO_CONNECTION = "no connection to ";

    /** Starts one attempt on one channel; {@code lastResort} waits for the channel to be ready. */
    private interface Attempt<R> {
        ListenableFuture<R> start(ManagedChannel channel, boolean lastResort);
    }

    private final MeshgateConfig config;
    private final Channels factory;
    private final List<ManagedChannel> channels;
    private final ScheduledThreadPoolExecutor timer;

    MeshgateClient(MeshgateConfig config) throws IOException {
        this(config, new Channels(config.tls()));
    }

    private MeshgateClient(MeshgateConfig config, Channels factory) throws IOException {
        this(config, open(factory, config.targets()), factory);
    }

    /** Over channels opened elsewhere, one per target (tests: in-process channels); closes them and the factory. */
    MeshgateClient(MeshgateConfig config, List<ManagedChannel> channels, Channels factory) {
        this.config = config;
        this.factory = factory;
        this.channels = List.copyOf(channels);
        // One thread for the channel check and the coalescers' queue deadlines; cancelled deadlines leave.
        this.timer = new ScheduledThreadPoolExecutor(1, Daemons.named("meshgate-timer"));
        timer.setRemoveOnCancelPolicy(true);
        timer.scheduleWithFixedDelay(this::skipBackoffWhenBroken, RECONNECT_CHECK_MILLIS, RECONNECT_CHECK_MILLIS,
                TimeUnit.MILLISECONDS);
    }

    private static List<ManagedChannel> open(Channels factory, List<String> targets) throws IOException {
        List<ManagedChannel> opened = new ArrayList<>();
        try {
            for (String target : targets) {
                opened.add(factory.open(target));
            }
        } catch (IOException | RuntimeException e) {
            opened.forEach(ManagedChannel::shutdownNow);
            factory.close();
            throw e;
        }
        return opened;
    }

    private void skipBackoffWhenBroken() {
        for (ManagedChannel channel : channels) {
            if (channel.getState(false) == ConnectivityState.TRANSIENT_FAILURE) {
                channel.resetConnectBackoff();
            }
        }
    }

    int targetCount() {
        return channels.size();
    }

    /** Where the coalescers schedule queue deadlines. */
    ScheduledExecutorService timer() {
        return timer;
    }

    @Override
    public CompletableFuture<AuthenticateResponse> authenticate(AuthenticateRequest request, Deadline deadline) {
        return attempt(0, deadline, (channel, lastResort) ->
                authentication(channel, deadline, lastResort).authenticate(request));
    }

    @Override
    public CompletableFuture<AuthenticateBatchResponse> authenticateBatch(AuthenticateBatchRequest request,
                                                                          Deadline deadline) {
        return attempt(0, deadline, (channel, lastResort) ->
                authentication(channel, deadline, lastResort).authenticateBatch(request));
    }

    @Override
    public CompletableFuture<AuthorizeBatchResponse> authorizeBatch(AuthorizeBatchRequest request, Deadline deadline) {
        return attempt(0, deadline, (channel, lastResort) ->
                authorization(channel, deadline, lastResort).authorizeBatch(request));
    }

    @Override
    public CompletableFuture<ReportServedResponse> reportServed(ReportServedRequest request, Deadline deadline) {
        return attempt(0, deadline, (channel, lastResort) ->
                authorization(channel, deadline, lastResort).reportServed(request));
    }

    private static AuthenticationGrpc.AuthenticationFutureStub authentication(ManagedChannel channel,
                                                                             Deadline deadline, boolean lastResort) {
        AuthenticationGrpc.AuthenticationFutureStub stub =
                AuthenticationGrpc.newFutureStub(channel).withDeadline(deadline);
        return lastResort ? stub.withWaitForReady() : stub;
    }

    private static AuthorizationGrpc.AuthorizationFutureStub authorization(ManagedChannel channel, Deadline deadline,
                                                                           boolean lastResort) {
        AuthorizationGrpc.AuthorizationFutureStub stub =
                AuthorizationGrpc.newFutureStub(channel).withDeadline(deadline);
        return lastResort ? stub.withWaitForReady() : stub;
    }

    /** Opens the revision stream on target {@code index} (modulo the number of targets). */
    void watchRevision(int index, StreamObserver<RevisionEvent> observer) {
        ManagedChannel channel = channels.get(Math.floorMod(index, channels.size()));
        channel.resetConnectBackoff();
        AuthorizationGrpc.newStub(channel).withWaitForReady()
                .watchRevision(WatchRevisionRequest.getDefaultInstance(), observer);
    }

    String targetName(int index) {
        return config.targets().get(Math.floorMod(index, channels.size()));
    }

    // A target that is down fails fast (UNAVAILABLE) and the next one is asked; the last target waits for
    // a connection up to the deadline (never longer). Any failure resets the reconnect backoff, so a
    // restarted service is used on the next call rather than after gRPC's backoff of up to two minutes.
    private <R> CompletableFuture<R> attempt(int index, Deadline deadline, Attempt<R> attempt) {
        ManagedChannel channel = channels.get(index);
        boolean last = index == channels.size() - 1;
        if (channel.getState(false) == ConnectivityState.TRANSIENT_FAILURE) {
            channel.resetConnectBackoff();
        }
        CompletableFuture<R> result = toCompletable(attempt.start(channel, last));
        if (last) {
            return result.exceptionallyCompose(error -> CompletableFuture.failedFuture(explained(error, index)));
        }
        return result.exceptionallyCompose(error -> {
            Status.Code code = Status.fromThrowable(GrpcErrors.unwrap(error)).getCode();
            if (code == Status.Code.UNAVAILABLE && !deadline.isExpired()) {
                return attempt(index + 1, deadline, attempt);
            }
            return CompletableFuture.failedFuture(error);
        });
    }

    /**
     * A last-resort call waits for a connection up to its deadline, so a service that is not there ends in
     * DEADLINE_EXCEEDED, like one that is too slow. When the channel never got a connection, the status says so
     * (its code unchanged: the retry rules stay the same), and {@link Undecided#why} calls the service
     * unreachable rather than slow.
     */
    private Throwable explained(Throwable error, int index) {
        Status status = Status.fromThrowable(GrpcErrors.unwrap(error));
        ConnectivityState state = channels.get(index).getState(false);
        if (status.getCode() != Status.Code.DEADLINE_EXCEEDED || state == ConnectivityState.READY) {
            return error;
        }
        return Status.DEADLINE_EXCEEDED.withDescription(NO_CONNECTION + targetName(index) + " before the deadline"
                + " (channel " + state + "; " + status.getDescription() + ")").asRuntimeException();
    }

    private <T> CompletableFuture<T> toCompletable(ListenableFuture<T> future) {
        CompletableFuture<T> result = new CompletableFuture<>();
        Futures.addCallback(future, new FutureCallback<T>() {
            @Override
            public void onSuccess(T value) {
                result.complete(value);
            }

            @Override
            public void onFailure(Throwable error) {
                result.completeExceptionally(error);
            }
        }, MoreExecutors.directExecutor());
        return result;
    }

    @Override
    public void close() {
        timer.shutdownNow();
        channels.forEach(ManagedChannel::shutdown);
        try {
            for (ManagedChannel channel : channels) {
                if (!channel.awaitTermination(2, TimeUnit.SECONDS)) {
                    channel.shutdownNow();
                }
            }
        } catch (InterruptedException e) {
            channels.forEach(ManagedChannel::shutdownNow);
            Thread.currentThread().interrupt();
        }
        factory.close();
    }
}
