package dev.meshgate.pulsar;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.meshgate.proto.v1.AuthenticateBatchRequest;
import dev.meshgate.proto.v1.AuthenticateBatchResponse;
import dev.meshgate.proto.v1.AuthenticateRequest;
import dev.meshgate.proto.v1.AuthenticateResponse;
import dev.meshgate.proto.v1.AuthorizationGrpc;
import dev.meshgate.proto.v1.AuthorizeBatchRequest;
import dev.meshgate.proto.v1.AuthorizeBatchResponse;
import dev.meshgate.proto.v1.AuthorizeRequest;
import dev.meshgate.proto.v1.Decision;
import dev.meshgate.proto.v1.FrameCall;
import dev.meshgate.proto.v1.FrameError;
import dev.meshgate.proto.v1.FrameReply;
import dev.meshgate.proto.v1.Identity;
import io.grpc.Deadline;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import io.prometheus.client.CollectorRegistry;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The frames transport (docs/frames.md) against a fake frames socket, with an in-process gRPC service beside it
 * that answers every question with revision "grpc": which transport answered shows in the revision.
 */
class FramesTransportTest {

    /** Answers AuthorizeBatch over gRPC, one allow per question, revision "grpc". */
    static final class GrpcAuthorization extends AuthorizationGrpc.AuthorizationImplBase {
        final AtomicInteger calls = new AtomicInteger();

        @Override
        public void authorizeBatch(AuthorizeBatchRequest request, StreamObserver<AuthorizeBatchResponse> observer) {
            calls.incrementAndGet();
            observer.onNext(answers(request.getRequestsCount(), "grpc"));
            observer.onCompleted();
        }
    }

    @TempDir
    Path dir;
    private final CollectorRegistry registry = new CollectorRegistry();
    private final ShimMetrics metrics = new ShimMetrics(registry);
    private final GrpcAuthorization grpc = new GrpcAuthorization();
    private Server server;
    private String name;
    private FakeFramesServer frames;
    private MeshgateClient client;

    @BeforeEach
    void startGrpc() throws Exception {
        name = InProcessServerBuilder.generateName();
        server = InProcessServerBuilder.forName(name).addService(grpc).build().start();
        client = client(name, "meshgateTargets", "unix:" + dir.resolve("meshgate.sock"));
    }

    private MeshgateClient client(String name, String... keyValues) throws IOException {
        return client(name, MeshgateConfig.from(MeshgateConfigTest.conf(keyValues)));
    }

    private MeshgateClient client(String name, MeshgateConfig config) throws IOException {
        ManagedChannel channel = InProcessChannelBuilder.forName(name).build();
        return new MeshgateClient(config, List.of(channel), new Channels(TlsFiles.NONE), metrics);
    }

    @AfterEach
    void stop() throws Exception {
        client.close();
        server.shutdownNow();
        if (frames != null) {
            frames.close();
        }
    }

    /** The frames socket, and a file standing for the gRPC socket beside it (its owner is the service's user). */
    private FakeFramesServer listen() throws Exception {
        if (!Files.exists(dir.resolve("meshgate.sock"))) {
            Files.createFile(dir.resolve("meshgate.sock"));
        }
        frames = new FakeFramesServer(dir.resolve("meshgate.sock.frames"));
        return frames;
    }

    static AuthorizeBatchResponse answers(int count, String revision) {
        AuthorizeBatchResponse.Builder response = AuthorizeBatchResponse.newBuilder();
        for (int i = 0; i < count; i++) {
            response.addDecisions(Decision.newBuilder().setAllowed(true).setRevision(revision));
        }
        return response.build();
    }

    private static AuthorizeBatchRequest batch(String principal) {
        return AuthorizeBatchRequest.newBuilder().addRequests(AuthorizeRequest.newBuilder().setPrincipal(principal)
                .setAction("topic.produce")).build();
    }

    private CompletableFuture<AuthorizeBatchResponse> ask(String principal, long millis) {
        return client.authorizeBatch(batch(principal), Deadline.after(millis, TimeUnit.MILLISECONDS));
    }

    private static String revision(CompletableFuture<AuthorizeBatchResponse> answer) {
        return answer.join().getDecisions(0).getRevision();
    }

    private static FrameReply answer(FrameCall call, String revision) {
        return FrameReply.newBuilder().setId(call.getId())
                .setAuthorizeBatch(answers(call.getAuthorizeBatch().getRequestsCount(), revision)).build();
    }

    private double calls(String rpc, String transport) {
        Double value = registry.getSampleValue("meshgate_shim_calls_total", new String[] {"rpc", "transport"},
                new String[] {rpc, transport});
        return value == null ? 0 : value;
    }

    private static Status failure(CompletableFuture<?> answer) {
        Throwable error = assertThrows(CompletionException.class, answer::join);
        return Status.fromThrowable(GrpcErrors.unwrap(error));
    }

    @Test
    void repliesComeInAnyOrderAndEachFindsItsCall() throws Exception {
        listen();
        CompletableFuture<AuthorizeBatchResponse> first = ask("first", 2000);
        CompletableFuture<AuthorizeBatchResponse> second = ask("second", 2000);
        FrameCall one = frames.next();
        FrameCall two = frames.next();
        assertTrue(one.getBudgetMs() > 1000 && one.getBudgetMs() <= 2000, "the budget: " + one.getBudgetMs());
        frames.reply(answer(two, two.getAuthorizeBatch().getRequests(0).getPrincipal()));
        frames.reply(answer(one, one.getAuthorizeBatch().getRequests(0).getPrincipal()));
        assertEquals("first", revision(first));
        assertEquals("second", revision(second));
        assertEquals(0, grpc.calls.get());
        assertEquals(2, calls("authorize_batch", "frames"));
        assertEquals(0, calls("authorize_batch", "grpc"));
        assertEquals(1, frames.accepted.get(), "one connection carries every call");
    }

    @Test
    void authenticationGoesOverFramesToo() throws Exception {
        listen();
        CompletableFuture<AuthenticateBatchResponse> answer = client.authenticateBatch(AuthenticateBatchRequest
                .newBuilder().addRequests(AuthenticateRequest.getDefaultInstance()).build(),
                Deadline.after(2, TimeUnit.SECONDS));
        FrameCall call = frames.next();
        assertTrue(call.hasAuthenticateBatch());
        frames.reply(FrameReply.newBuilder().setId(call.getId()).setAuthenticateBatch(AuthenticateBatchResponse
                .newBuilder().addResponses(AuthenticateResponse.newBuilder().setIdentity(Identity.newBuilder()
                .setPrincipal("app")))).build());
        assertEquals("app", answer.join().getResponses(0).getIdentity().getPrincipal());
        assertEquals(1, calls("authenticate_batch", "frames"));
    }

    @Test
    void aFrameErrorIsTheStatusTheGrpcCallWouldHaveHad() throws Exception {
        listen();
        int[] codes = {8, 4, 3, 13, 0, 99};
        Status.Code[] expected = {Status.Code.RESOURCE_EXHAUSTED, Status.Code.DEADLINE_EXCEEDED,
            Status.Code.INVALID_ARGUMENT, Status.Code.INTERNAL, Status.Code.INTERNAL, Status.Code.UNKNOWN};
        FailureReason[] reasons = {FailureReason.OVERLOADED, FailureReason.DEADLINE_EXCEEDED,
            FailureReason.SERVICE_ERROR, FailureReason.SERVICE_ERROR, FailureReason.SERVICE_ERROR,
            FailureReason.SERVICE_ERROR};
        for (int i = 0; i < codes.length; i++) {
            CompletableFuture<AuthorizeBatchResponse> answer = ask("p", 2000);
            frames.reply(FrameReply.newBuilder().setId(frames.next().getId()).setError(FrameError.newBuilder()
                    .setCode(codes[i]).setMessage("why " + i)).build());
            Status status = failure(answer);
            assertEquals(expected[i], status.getCode(), "code " + codes[i]);
            assertTrue(status.getDescription().contains("why " + i), status.getDescription());
            Throwable error = assertThrows(CompletionException.class, answer::join);
            assertEquals(reasons[i], GrpcErrors.reason(error), "code " + codes[i]);
        }
        assertEquals(0, grpc.calls.get(), "a service's error is its answer: not asked again over gRPC");
    }

    @Test
    void aCallWithNoReplyFailsAtItsDeadlineAndALateReplyIsDropped() throws Exception {
        listen();
        CompletableFuture<AuthorizeBatchResponse> warm = ask("warm", 2000);
        frames.reply(answer(frames.next(), "frames"));
        warm.join();  // connected: the deadline is all the reply's
        long began = System.nanoTime();
        CompletableFuture<AuthorizeBatchResponse> answer = ask("slow", 150);
        FrameCall call = frames.next();
        assertEquals(Status.Code.DEADLINE_EXCEEDED, failure(answer).getCode());
        long took = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - began);
        assertTrue(took >= 140 && took < 1000, "failed at its deadline: " + took + " ms");
        frames.reply(answer(call, "late"));
        CompletableFuture<AuthorizeBatchResponse> next = ask("next", 2000);
        frames.reply(answer(frames.next(), "frames"));
        assertEquals("frames", revision(next), "the connection still works");
        assertEquals(0, grpc.calls.get());
    }

    @Test
    void aConnectionThatClosesMidCallHasItsCallsAskedAgainOverGrpc() throws Exception {
        listen();
        CompletableFuture<AuthorizeBatchResponse> answer = ask("p", 2000);
        frames.next();
        frames.closeConnections();
        assertEquals("grpc", revision(answer));
        assertEquals(1, calls("authorize_batch", "frames"));
        assertEquals(1, calls("authorize_batch", "grpc"));
        assertEquals("grpc", revision(ask("p", 2000)), "within the recheck interval: gRPC");
        Thread.sleep(MeshgateClient.RECONNECT_CHECK_MILLIS + 50);
        CompletableFuture<AuthorizeBatchResponse> again = ask("p", 2000);
        frames.reply(answer(frames.next(), "frames"));
        assertEquals("frames", revision(again), "reconnected after the recheck interval");
    }

    @Test
    void aReplyThatIsNotAFrameReplyClosesTheConnectionAndTheCallGoesOverGrpc() throws Exception {
        listen();
        CompletableFuture<AuthorizeBatchResponse> answer = ask("p", 2000);
        frames.next();
        frames.send(ByteBuffer.wrap(new byte[] {0, 0, 0, 2, (byte) 0xff, (byte) 0xff}));
        assertEquals("grpc", revision(answer));
    }

    @Test
    void withoutAFramesSocketGrpcAnswersAndTheSocketIsLookedForAgainLater() throws Exception {
        assertEquals("grpc", revision(ask("p", 2000)));
        listen();
        assertEquals("grpc", revision(ask("p", 2000)), "not looked for again within the recheck interval");
        assertEquals(0, frames.accepted.get());
        Thread.sleep(MeshgateClient.RECONNECT_CHECK_MILLIS + 50);
        CompletableFuture<AuthorizeBatchResponse> again = ask("p", 2000);
        frames.reply(answer(frames.next(), "frames"));
        assertEquals("frames", revision(again));
        assertEquals(2, grpc.calls.get());
    }

    @Test
    void answersAreHandedToTheBrokerOffTheEventLoop() throws Exception {
        listen();
        CompletableFuture<AuthorizeBatchResponse> answer = ask("p", 2000);
        CompletableFuture<String> thread = answer.thenApply(done -> Thread.currentThread().getName());
        frames.reply(answer(frames.next(), "frames"));
        assertFalse(thread.join().startsWith("meshgate-"), "completed on " + thread.join());
    }

    @Test
    void aFramesSocketWhoseProcessIsNotTheServiceUserIsRefused() throws Exception {
        assumeTrue(System.getProperty("user.name").equals("root"), "skipped: changing a file's owner needs root");
        listen();
        Files.setAttribute(dir.resolve("meshgate.sock"), "unix:uid", 4242);  // as if another user's service
        assertEquals("grpc", revision(ask("p", 2000)), "asked over gRPC");
        assertEquals(1, frames.accepted.get(), "connected, checked, refused");
        assertTrue(frames.calls.isEmpty(), "no question went to the stranger");
        Thread.sleep(MeshgateClient.RECONNECT_CHECK_MILLIS + 50);
        assertEquals("grpc", revision(ask("p", 2000)), "and again after the recheck interval");
        assertTrue(frames.calls.isEmpty());
    }

    @Test
    void offMeansGrpcOnly() throws Exception {
        listen();
        client.close();
        client = client(name, "meshgateTargets", "unix:" + dir.resolve("meshgate.sock"), "meshgateFrames", "off");
        assertEquals("grpc", revision(ask("p", 2000)));
        assertEquals(0, frames.accepted.get());
    }

    @Test
    void tlsMeansGrpcOnly() throws Exception {
        listen();
        client.close();
        Path pem = Files.writeString(dir.resolve("x.pem"), "unused: the channel is in-process");
        MeshgateConfig plain = MeshgateConfig.from(MeshgateConfigTest.conf("meshgateTargets",
                "unix:" + dir.resolve("meshgate.sock")));
        MeshgateConfig tls = new MeshgateConfig(plain.targets(), 100, 100, 100, 10, 10, FailMode.DENY, 10,
                new TlsFiles(pem.toString(), pem.toString(), pem.toString(), ""), plain.superUserRoles(), true, 4, 128,
                20, 1000, 10_000, FramesMode.AUTO);
        client = client(name, tls);
        assertEquals("grpc", revision(ask("p", 2000)));
        assertEquals(0, frames.accepted.get());
    }
}
