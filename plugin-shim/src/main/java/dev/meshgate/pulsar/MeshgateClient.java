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
import dev.meshgate.proto.v1.FrameCall;
import dev.meshgate.proto.v1.FrameReply;
import dev.meshgate.proto.v1.ReportServedRequest;
import dev.meshgate.proto.v1.ReportServedResponse;
import dev.meshgate.proto.v1.RevisionEvent;
import dev.meshgate.proto.v1.WatchRevisionRequest;
import io.grpc.ConnectivityState;
import io.grpc.Deadline;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.internal.GrpcUtil;
import io.grpc.internal.SharedResourceHolder;
import io.grpc.stub.StreamObserver;
import java.io.Closeable;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * One gRPC channel per service target, tried in order: a call moves to the next target only when the
 * current one is UNAVAILABLE, and all attempts share the caller's deadline. Every call is asynchronous, so
 * no broker network thread ever waits on the service. The two batch calls to a {@code unix:/path} target without
 * TLS go over its frames socket when that accepts ({@link FramesConnection}, {@code meshgateFrames}); a call the
 * frames connection could not carry is asked again over gRPC on the same target, within its deadline.
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

    /** Starts one attempt over a frames connection; null: the target is on gRPC for now. */
    private interface Framed<R> {
        CompletableFuture<R> start(FramesConnection frames);
    }

    static final String GRPC = "grpc";
    static final String FRAMES = "frames";

    private final MeshgateConfig config;
    private final Channels factory;
    private final List<ManagedChannel> channels;
    private final ScheduledThreadPoolExecutor timer;
    private final ShimMetrics metrics;
    /** Per target, its frames connection, or null where the batch calls stay on gRPC. */
    private final List<FramesConnection> frames;
    /** gRPC's callback executor, where frames answers are handed to the broker as gRPC's are; null: no frames. */
    private final Executor callbacks;

    MeshgateClient(MeshgateConfig config, ShimMetrics metrics) throws IOException {
        this(config, new Channels(config.tls()), metrics);
    }

    private MeshgateClient(MeshgateConfig config, Channels factory, ShimMetrics metrics) throws IOException {
        this(config, open(factory, config.targets()), factory, metrics);
    }

    /** Over channels opened elsewhere, one per target (tests: in-process channels); closes them and the factory. */
    MeshgateClient(MeshgateConfig config, List<ManagedChannel> channels, Channels factory, ShimMetrics metrics) {
        this.config = config;
        this.factory = factory;
        this.channels = List.copyOf(channels);
        this.metrics = metrics;
        // One thread for the channel check, the coalescers' queue deadlines and the frames calls' deadlines;
        // cancelled deadlines leave.
        this.timer = new ScheduledThreadPoolExecutor(1, Daemons.named("meshgate-timer"));
        timer.setRemoveOnCancelPolicy(true);
        timer.scheduleWithFixedDelay(this::skipBackoffWhenBroken, RECONNECT_CHECK_MILLIS, RECONNECT_CHECK_MILLIS,
                TimeUnit.MILLISECONDS);
        boolean framed = config.frames() == FramesMode.AUTO && !config.tls().enabled()
                && config.targets().stream().anyMatch(target -> target.startsWith(Channels.UNIX_PREFIX));
        this.callbacks = framed ? SharedResourceHolder.get(GrpcUtil.SHARED_CHANNEL_EXECUTOR) : null;
        this.frames = new ArrayList<>();
        for (String target : config.targets()) {
            frames.add(framed && target.startsWith(Channels.UNIX_PREFIX) ? frames(target) : null);
        }
    }

    private FramesConnection frames(String target) {
        try {
            return new FramesConnection(target, factory.epollGroup(target), timer, callbacks);
        } catch (IOException noEpoll) {
            return null;  // the gRPC channel to a unix target needs epoll too, and says so
        }
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
        return attempt("authenticate", 0, deadline, (channel, lastResort) ->
                authentication(channel, deadline, lastResort).authenticate(request), null);
    }

    @Override
    public CompletableFuture<AuthenticateBatchResponse> authenticateBatch(AuthenticateBatchRequest request,
                                                                          Deadline deadline) {
        return attempt("authenticate_batch", 0, deadline, (channel, lastResort) ->
                authentication(channel, deadline, lastResort).authenticateBatch(request), frames -> frames.call(
                FrameCall.newBuilder().setAuthenticateBatch(request), deadline,
                FrameReply.ReplyCase.AUTHENTICATE_BATCH, FrameReply::getAuthenticateBatch));
    }

    @Override
    public CompletableFuture<AuthorizeBatchResponse> authorizeBatch(AuthorizeBatchRequest request, Deadline deadline) {
        return attempt("authorize_batch", 0, deadline, (channel, lastResort) ->
                authorization(channel, deadline, lastResort).authorizeBatch(request), frames -> frames.call(
                FrameCall.newBuilder().setAuthorizeBatch(request), deadline, FrameReply.ReplyCase.AUTHORIZE_BATCH,
                FrameReply::getAuthorizeBatch));
    }

    @Override
    public CompletableFuture<ReportServedResponse> reportServed(ReportServedRequest request, Deadline deadline) {
        return attempt("report_served", 0, deadline, (channel, lastResort) ->
                authorization(channel, deadline, lastResort).reportServed(request), null);
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
    // A call the frames connection could not carry (lost) is asked over gRPC on the same target.
    private <R> CompletableFuture<R> attempt(String rpc, int index, Deadline deadline, Attempt<R> attempt,
                                             Framed<R> framed) {
        boolean last = index == channels.size() - 1;
        FramesConnection connection = framed == null ? null : frames.get(index);
        CompletableFuture<R> sent = connection == null ? null : framed.start(connection);
        CompletableFuture<R> result;
        if (sent == null) {
            result = grpc(rpc, index, attempt, last);
        } else {
            metrics.call(rpc, FRAMES);
            result = sent.exceptionallyCompose(error -> FramePending.lost(error) && !deadline.isExpired()
                    ? grpc(rpc, index, attempt, last) : CompletableFuture.failedFuture(error));
        }
        if (last) {
            return result.exceptionallyCompose(error -> CompletableFuture.failedFuture(explained(error, index)));
        }
        return result.exceptionallyCompose(error -> {
            Status.Code code = Status.fromThrowable(GrpcErrors.unwrap(error)).getCode();
            if (code == Status.Code.UNAVAILABLE && !deadline.isExpired()) {
                return attempt(rpc, index + 1, deadline, attempt, framed);
            }
            return CompletableFuture.failedFuture(error);
        });
    }

    private <R> CompletableFuture<R> grpc(String rpc, int index, Attempt<R> attempt, boolean last) {
        ManagedChannel channel = channels.get(index);
        if (channel.getState(false) == ConnectivityState.TRANSIENT_FAILURE) {
            channel.resetConnectBackoff();
        }
        metrics.call(rpc, GRPC);
        return toCompletable(attempt.start(channel, last));
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
        FramesConnection connection = frames.get(index);
        if (status.getCode() != Status.Code.DEADLINE_EXCEEDED || state == ConnectivityState.READY
                || connection != null && connection.connected()) {
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
        frames.stream().filter(connection -> connection != null).forEach(FramesConnection::close);
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
        if (callbacks != null) {
            SharedResourceHolder.release(GrpcUtil.SHARED_CHANNEL_EXECUTOR, callbacks);
        }
    }
}
