package dev.meshgate.pulsar;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.meshgate.proto.v1.AuthenticateBatchRequest;
import dev.meshgate.proto.v1.AuthenticateBatchResponse;
import dev.meshgate.proto.v1.AuthenticateRequest;
import dev.meshgate.proto.v1.AuthenticateResponse;
import dev.meshgate.proto.v1.AuthenticationGrpc;
import dev.meshgate.proto.v1.Identity;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import io.prometheus.client.CollectorRegistry;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletionException;
import javax.naming.AuthenticationException;
import org.apache.pulsar.broker.ServiceConfiguration;
import org.apache.pulsar.broker.authentication.AuthenticationDataCommand;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A role in {@code superUserRoles} is allowed everything without asking the service, so only a workload
 * credential may log in as one: an SSO token that the service mapped to a super-user role is refused (issue #16).
 */
class SuperUserLoginTest {

    private static final String BROKER = "spiffe://cluster.local/ns/pulsar/sa/pulsar-broker";

    /** Answers every token "kind:principal" with that identity. */
    static final class EchoAuthentication extends AuthenticationGrpc.AuthenticationImplBase {
        @Override
        public void authenticateBatch(AuthenticateBatchRequest request,
                                      StreamObserver<AuthenticateBatchResponse> observer) {
            AuthenticateBatchResponse.Builder response = AuthenticateBatchResponse.newBuilder();
            for (AuthenticateRequest item : request.getRequestsList()) {
                String[] parts = item.getCredential().getToken().split(":", 2);
                response.addResponses(AuthenticateResponse.newBuilder().setIdentity(
                        Identity.newBuilder().setCredentialKind(parts[0]).setPrincipal(parts[1])));
            }
            observer.onNext(response.build());
            observer.onCompleted();
        }
    }

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

    private MeshgateTokenAuthenticationProvider provider() throws Exception {
        ServiceConfiguration conf = MeshgateConfigTest.conf("meshgateAuthnDeadlineMillis", "10000");
        conf.setSuperUserRoles(Set.of(BROKER, "oidc:https://sso.example.test#root"));
        MeshgateConfig config = MeshgateConfig.from(conf);
        String name = InProcessServerBuilder.generateName();
        server = InProcessServerBuilder.forName(name).addService(new EchoAuthentication()).build().start();
        ManagedChannel channel = InProcessChannelBuilder.forName(name).build();
        MeshgateClient client = new MeshgateClient(config, List.of(channel), new Channels(TlsFiles.NONE),
                new ShimMetrics(new CollectorRegistry()));
        runtime = new MeshgateRuntime(config, client, new ShimMetrics(new CollectorRegistry()));
        MeshgateTokenAuthenticationProvider provider = new MeshgateTokenAuthenticationProvider();
        provider.use(runtime);
        return provider;
    }

    private static String login(MeshgateTokenAuthenticationProvider provider, String token) {
        return provider.authenticateAsync(new AuthenticationDataCommand(token)).join();
    }

    @ParameterizedTest
    @ValueSource(strings = {"x509_svid", "linkerd_cert", "l5d_header", "k8s_sa_token", "jwt_svid"})
    void aWorkloadCredentialMayBeASuperUser(String kind) throws Exception {
        assertEquals(BROKER, login(provider(), kind + ":" + BROKER));
    }

    @ParameterizedTest
    @ValueSource(strings = {"oidc", "", "some_future_kind"})
    void noOtherCredentialMayBeASuperUser(String kind) throws Exception {
        MeshgateTokenAuthenticationProvider provider = provider();
        Throwable error = assertThrows(CompletionException.class, () -> login(provider, kind + ":" + BROKER))
                .getCause();
        assertInstanceOf(AuthenticationException.class, error);
        assertEquals("meshgate token authentication failed (rejected): principal_crosses_kind: a " + kind
                + " login may not be " + BROKER + ", a super-user role (superUserRoles) that only a workload"
                + " credential may carry", error.getMessage());
    }

    @Test
    void anSsoSuperUserRoleIsRefusedToo() throws Exception {
        MeshgateTokenAuthenticationProvider provider = provider();
        assertThrows(CompletionException.class, () -> login(provider, "oidc:oidc:https://sso.example.test#root"));
        assertEquals("oidc:https://sso.example.test#alice",
                login(provider, "oidc:oidc:https://sso.example.test#alice"));
    }
}
