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
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.io.Closeable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * One gRPC channel to the meshgate service. Every call is asynchronous with a deadline, so no broker
 * network thread ever waits on the service.
 */
public final class MeshgateClient implements Closeable {

    private final ManagedChannel channel;
    private final MeshgateConfig config;

    MeshgateClient(MeshgateConfig config) {
        this.config = config;
        this.channel = NettyChannelBuilder.forTarget(config.target()).usePlaintext().build();
    }

    public CompletableFuture<AuthenticateResponse> authenticate(AuthenticateRequest request) {
        return toCompletable(AuthenticationGrpc.newFutureStub(channel)
                .withDeadlineAfter(config.authnDeadlineMillis(), TimeUnit.MILLISECONDS)
                .authenticate(request));
    }

    public CompletableFuture<AuthorizeResponse> authorize(AuthorizeRequest request) {
        return toCompletable(AuthorizationGrpc.newFutureStub(channel)
                .withDeadlineAfter(config.deadlineMillis(), TimeUnit.MILLISECONDS)
                .authorize(request));
    }

    private static <T> CompletableFuture<T> toCompletable(ListenableFuture<T> future) {
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
