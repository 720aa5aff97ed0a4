package dev.meshgate.pulsar;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshgate.proto.v1.AuthenticateBatchRequest;
import dev.meshgate.proto.v1.AuthenticateBatchResponse;
import dev.meshgate.proto.v1.AuthenticateRequest;
import dev.meshgate.proto.v1.AuthenticateResponse;
import dev.meshgate.proto.v1.AuthenticationGrpc;
import dev.meshgate.proto.v1.Identity;
import dev.meshgate.proto.v1.Rejection;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import io.prometheus.client.CollectorRegistry;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import javax.naming.AuthenticationException;
import org.apache.pulsar.broker.authentication.AuthenticationDataCommand;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The token provider against an in-process gRPC service: connects are coalesced into AuthenticateBatch
 * calls, and a service without that RPC (UNIMPLEMENTED) is asked with unary Authenticate instead.
 */
class AuthenticationBatchingTest {

    private static final MeshgateConfig ONE_CALL = MeshgateConfig.from(MeshgateConfigTest.conf(
            "meshgateMaxCallsInFlight", "1", "meshgateAuthnDeadlineMillis", "10000"));

    /**
     * Principal "p-" + token; token "bad" is rejected. With {@code batchError} null the first batch waits for a
     * gate; otherwise every batch fails with it (UNIMPLEMENTED: the generated base class, as a server without it).
     */
    static final class FakeAuthentication extends AuthenticationGrpc.AuthenticationImplBase {
        final Status batchError;
        final List<Integer> batchSizes = new CopyOnWriteArrayList<>();
        final List<String> unary = new CopyOnWriteArrayList<>();
        final CountDownLatch firstArrived = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);
        /** This many batch calls answer RESOURCE_EXHAUSTED first, as a service shedding load does. */
        final AtomicInteger busy = new AtomicInteger();

        FakeAuthentication(Status batchError) {
            this.batchError = batchError;
        }

        static AuthenticateResponse answer(AuthenticateRequest request) {
            String token = request.getCredential().getToken();
            if (token.equals("bad")) {
                return AuthenticateResponse.newBuilder()
                        .setRejection(Rejection.newBuilder().setCode("bad_signature").setReason("no")).build();
            }
            return AuthenticateResponse.newBuilder().setIdentity(Identity.newBuilder().setPrincipal("p-" + token))
                    .build();
        }

        @Override
        public void authenticate(AuthenticateRequest request, StreamObserver<AuthenticateResponse> observer) {
            unary.add(request.getCredential().getToken());
            observer.onNext(answer(request));
            observer.onCompleted();
        }

        @Override
        public void authenticateBatch(AuthenticateBatchRequest request,
                                      StreamObserver<AuthenticateBatchResponse> observer) {
            if (batchError != null && batchError.getCode() == Status.Code.UNIMPLEMENTED) {
                super.authenticateBatch(request, observer);
                return;
            }
            if (batchError != null) {
                observer.onError(batchError.asRuntimeException());
                return;
            }
            if (busy.getAndDecrement() > 0) {
                observer.onError(Status.RESOURCE_EXHAUSTED.withDescription("busy").asRuntimeException());
                return;
            }
            batchSizes.add(request.getRequestsCount());
            firstArrived.countDown();
            try {
                release.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            AuthenticateBatchResponse.Builder response = AuthenticateBatchResponse.newBuilder();
            request.getRequestsList().forEach(item -> response.addResponses(answer(item)));
            observer.onNext(response.build());
            observer.onCompleted();
        }
    }

    private final CollectorRegistry registry = new CollectorRegistry();
    private Server server;
    private MeshgateRuntime runtime;

    @AfterEach
    void stop() {
        if (runtime != null) {
            runtime.close();
        }
        if (server != null) {
            server.shutdownNow();
        }
    }

    private MeshgateTokenAuthenticationProvider provider(FakeAuthentication service) throws Exception {
        String name = InProcessServerBuilder.generateName();
        server = InProcessServerBuilder.forName(name).addService(service).build().start();
        ManagedChannel channel = InProcessChannelBuilder.forName(name).build();
        MeshgateClient client = new MeshgateClient(ONE_CALL, List.of(channel), new Channels(TlsFiles.NONE),
                new ShimMetrics(new CollectorRegistry()));
        runtime = new MeshgateRuntime(ONE_CALL, client, new ShimMetrics(registry));
        MeshgateTokenAuthenticationProvider provider = new MeshgateTokenAuthenticationProvider();
        provider.use(runtime);
        return provider;
    }

    private static CompletableFuture<String> connect(MeshgateTokenAuthenticationProvider provider, String token) {
        return provider.authenticateAsync(new AuthenticationDataCommand(token));
    }

    private double batchCalls() {
        Double count = registry.getSampleValue("meshgate_shim_batch_items_count", new String[] {"rpc"},
                new String[] {"authenticate_batch"});
        return count == null ? 0 : count;
    }

    @Test
    void connectsArrivingWhileACallIsOutstandingShareOneBatchAndEachGetsItsOwnAnswer() throws Exception {
        FakeAuthentication service = new FakeAuthentication(null);
        MeshgateTokenAuthenticationProvider provider = provider(service);
        CompletableFuture<String> first = connect(provider, "t0");
        assertTrue(service.firstArrived.await(10, TimeUnit.SECONDS));
        List<CompletableFuture<String>> queued = new ArrayList<>();
        for (int i = 1; i <= 20; i++) {
            queued.add(connect(provider, i == 7 ? "bad" : "t" + i));
        }
        service.release.countDown();
        assertEquals("p-t0", first.join());
        for (int i = 1; i <= 20; i++) {
            if (i == 7) {
                Throwable error = assertThrows(CompletionException.class, queued.get(i - 1)::join).getCause();
                assertInstanceOf(AuthenticationException.class, error);
                assertTrue(error.getMessage().contains("(rejected): bad_signature"), error.getMessage());
            } else {
                assertEquals("p-t" + i, queued.get(i - 1).join());
            }
        }
        assertEquals(List.of(1, 20), service.batchSizes);
        assertTrue(service.unary.isEmpty());
    }

    @Test
    void anOlderServiceWithoutAuthenticateBatchIsAskedOneByOneFromThenOn() throws Exception {
        FakeAuthentication service = new FakeAuthentication(Status.UNIMPLEMENTED);
        MeshgateTokenAuthenticationProvider provider = provider(service);
        assertEquals("p-t1", connect(provider, "t1").join());
        assertEquals(1.0, batchCalls(), "one AuthenticateBatch tried");
        assertEquals("p-t2", connect(provider, "t2").join());
        Throwable rejected = assertThrows(CompletionException.class, connect(provider, "bad")::join).getCause();
        assertTrue(rejected.getMessage().contains("(rejected): bad_signature"), rejected.getMessage());
        assertEquals(1.0, batchCalls(), "never again after UNIMPLEMENTED");
        assertEquals(List.of("t1", "t2", "bad"), service.unary);
        assertEquals(null, registry.getSampleValue("meshgate_shim_errors_total", new String[] {"call", "reason"},
                new String[] {"authenticate", "service_error"}), "the fallback is not an error");
    }

    @Test
    void aConnectIsAskedAgainWhileTheServiceSheds() throws Exception {
        FakeAuthentication service = new FakeAuthentication(null);
        service.busy.set(2);
        service.release.countDown();
        MeshgateTokenAuthenticationProvider provider = provider(service);
        assertEquals("p-t1", connect(provider, "t1").join());
        assertEquals(3.0, batchCalls(), "two refusals, then the answer");
        assertEquals(2.0, registry.getSampleValue("meshgate_shim_retries_total", new String[] {"call", "reason"},
                new String[] {"authenticate", "overloaded"}));
        assertEquals(1.0, registry.getSampleValue("meshgate_shim_authentication_seconds_count",
                new String[] {"method"}, new String[] {"token"}));
    }

    @Test
    void anyOtherBatchFailureFailsTheConnectAndKeepsBatching() throws Exception {
        FakeAuthentication service = new FakeAuthentication(Status.INTERNAL.withDescription("internal: KeyError"));
        MeshgateTokenAuthenticationProvider provider = provider(service);
        Throwable error = assertThrows(CompletionException.class, connect(provider, "t1")::join).getCause();
        assertTrue(error.getMessage().matches(".*\\(service_error\\): the meshgate service at .+ failed the call"
                + " \\(INTERNAL: internal: KeyError\\)"), error.getMessage());
        assertThrows(CompletionException.class, connect(provider, "t2")::join);
        assertEquals(2.0, batchCalls());
        assertTrue(service.unary.isEmpty());
    }
}
