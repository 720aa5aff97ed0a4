package dev.meshgate.pulsar;

import com.google.common.util.concurrent.FutureCallback;
import com.google.common.util.concurrent.Futures;
import com.google.common.util.concurrent.ListenableFuture;
import com.google.common.util.concurrent.MoreExecutors;
import dev.meshgate.proto.v1.AuthenticateRequest;
import dev.meshgate.proto.v1.AuthenticateResponse;
import dev.meshgate.proto.v1.AuthenticationGrpc;
import dev.meshgate.proto.v1.AuthorizationGrpc;
import dev.meshgate.proto.v1.AuthorizeRequest;
import dev.meshgate.proto.v1.AuthorizeResponse;
import io.grpc.ConnectivityState;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.io.Closeable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * One gRPC channel to the meshgate service. Every call is asynchronous with a deadline, so no broker
 * network thread ever waits on the service.
 */
public final class MeshgateClient implements Closeable {

    /** How often a broken channel skips gRPC's reconnect backoff, bounding recovery after a restart. */
    static final long RECONNECT_CHECK_MILLIS = 250;

    private final ManagedChannel channel;
    private final MeshgateConfig config;
    private final ScheduledExecutorService watcher;

    MeshgateClient(MeshgateConfig config) {
        this.config = config;
        this.channel = NettyChannelBuilder.forTarget(config.target()).usePlaintext().build();
        this.watcher = Executors.newSingleThreadScheduledExecutor(runnable -> {
            Thread thread = new Thread(runnable, "meshgate-channel-watch");
            thread.setDaemon(true);
            return thread;
        });
        watcher.scheduleWithFixedDelay(this::skipBackoffWhenBroken, RECONNECT_CHECK_MILLIS, RECONNECT_CHECK_MILLIS,
                TimeUnit.MILLISECONDS);
    }

    private void skipBackoffWhenBroken() {
        if (channel.getState(false) == ConnectivityState.TRANSIENT_FAILURE) {
            channel.resetConnectBackoff();
        }
    }

    public CompletableFuture<AuthenticateResponse> authenticate(AuthenticateRequest request) {
        skipBackoffWhenBroken();
        return toCompletable(AuthenticationGrpc.newFutureStub(channel)
                .withDeadlineAfter(config.authnDeadlineMillis(), TimeUnit.MILLISECONDS)
                .withWaitForReady()
                .authenticate(request));
    }

    public CompletableFuture<AuthorizeResponse> authorize(AuthorizeRequest request) {
        skipBackoffWhenBroken();
        return toCompletable(AuthorizationGrpc.newFutureStub(channel)
                .withDeadlineAfter(config.deadlineMillis(), TimeUnit.MILLISECONDS)
                .withWaitForReady()
                .authorize(request));
    }

    // Calls wait for a connection up to their deadline (never longer), and any failure resets the
    // reconnect backoff: a restarted service is used on the next call, not after gRPC's backoff of
    // up to two minutes, while a dead one still costs each caller at most one deadline.
    private <T> CompletableFuture<T> toCompletable(ListenableFuture<T> future) {
        CompletableFuture<T> result = new CompletableFuture<>();
        Futures.addCallback(future, new FutureCallback<T>() {
            @Override
            public void onSuccess(T value) {
                result.complete(value);
            }

            @Override
            public void onFailure(Throwable error) {
                channel.resetConnectBackoff();
                result.completeExceptionally(error);
            }
        }, MoreExecutors.directExecutor());
        return result;
    }

    @Override
    public void close() {
        watcher.shutdownNow();
        channel.shutdown();
        try {
            if (!channel.awaitTermination(2, TimeUnit.SECONDS)) {
                channel.shutdownNow();
            }
        } catch (InterruptedException e) {
            channel.shutdownNow();
            Thread.currentThread().interrupt();
        }
    }
}
