package dev.meshgate.pulsar;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.meshgate.proto.v1.AuthorizationGrpc;
import dev.meshgate.proto.v1.AuthorizeBatchRequest;
import dev.meshgate.proto.v1.AuthorizeBatchResponse;
import dev.meshgate.proto.v1.AuthorizeRequest;
import dev.meshgate.proto.v1.FrameError;
import dev.meshgate.proto.v1.FrameReply;
import io.grpc.Deadline;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import io.prometheus.client.CollectorRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** With several targets, frames keep today's order: the next target is asked only when one is UNAVAILABLE. */
class FramesTargetsTest {

    /** Answers over gRPC with the revision of its target, counting its calls. */
    static final class Named extends AuthorizationGrpc.AuthorizationImplBase {
        final String revision;
        final AtomicInteger calls = new AtomicInteger();

        Named(String revision) {
            this.revision = revision;
        }

        @Override
        public void authorizeBatch(AuthorizeBatchRequest request, StreamObserver<AuthorizeBatchResponse> observer) {
            calls.incrementAndGet();
            observer.onNext(FramesTransportTest.answers(request.getRequestsCount(), revision));
            observer.onCompleted();
        }
    }

    @TempDir
    Path dir;
    private final List<Server> servers = new ArrayList<>();
    private final Named first = new Named("first over grpc");
    private final Named second = new Named("second over grpc");
    private FakeFramesServer frames;
    private MeshgateClient client;

    @AfterEach
    void stop() throws Exception {
        client.close();
        servers.forEach(Server::shutdownNow);
        frames.close();
    }

    private ManagedChannel channel(Named service) throws Exception {
        String name = InProcessServerBuilder.generateName();
        servers.add(InProcessServerBuilder.forName(name).addService(service).build().start());
        return InProcessChannelBuilder.forName(name).build();
    }

    private CompletableFuture<AuthorizeBatchResponse> ask() {
        AuthorizeBatchRequest batch = AuthorizeBatchRequest.newBuilder().addRequests(AuthorizeRequest.newBuilder()
                .setPrincipal("p").setAction("topic.produce")).build();
        return client.authorizeBatch(batch, Deadline.after(2, TimeUnit.SECONDS));
    }

    private void fail(int code, String message) throws Exception {
        frames.reply(FrameReply.newBuilder().setId(frames.next().getId()).setError(FrameError.newBuilder()
                .setCode(code).setMessage(message)).build());
    }

    @Test
    void anUnavailableAnswerOverFramesMovesToTheNextTargetAndOthersDoNot() throws Exception {
        Files.createFile(dir.resolve("a.sock"));
        frames = new FakeFramesServer(dir.resolve("a.sock.frames"));
        MeshgateConfig config = MeshgateConfig.from(MeshgateConfigTest.conf("meshgateTargets",
                "unix:" + dir.resolve("a.sock") + ",unix:" + dir.resolve("b.sock")));
        client = new MeshgateClient(config, List.of(channel(first), channel(second)), new Channels(TlsFiles.NONE),
                new ShimMetrics(new CollectorRegistry()));
        CompletableFuture<AuthorizeBatchResponse> moved = ask();
        fail(14, "draining");
        assertEquals("second over grpc", moved.join().getDecisions(0).getRevision(), "as over gRPC");
        assertEquals(0, first.calls.get(), "the service's own UNAVAILABLE is not asked again over its gRPC");
        CompletableFuture<AuthorizeBatchResponse> shed = ask();
        fail(8, "queue full");
        assertEquals(FailureReason.OVERLOADED, GrpcErrors.reason(assertThrows(CompletionException.class, shed::join)));
        assertEquals(1, second.calls.get(), "RESOURCE_EXHAUSTED is the first target's answer");
    }
}
