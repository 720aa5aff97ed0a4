package dev.meshgate.pulsar;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshgate.proto.v1.AuthorizationGrpc;
import dev.meshgate.proto.v1.AuthorizeBatchRequest;
import dev.meshgate.proto.v1.AuthorizeBatchResponse;
import dev.meshgate.proto.v1.AuthorizeRequest;
import dev.meshgate.proto.v1.Decision;
import dev.meshgate.proto.v1.Identity;
import io.grpc.stub.StreamObserver;
import io.prometheus.client.CollectorRegistry;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import org.apache.pulsar.broker.authentication.AuthenticationDataCommand;
import org.apache.pulsar.broker.authentication.AuthenticationDataSource;
import org.apache.pulsar.broker.authentication.AuthenticationDataSubscription;
import org.apache.pulsar.common.naming.TopicName;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A spiffe: or oidc: role is honoured only when a meshgate authentication provider proved it (threat-model row
 * 16.2): another provider's token whose subject spells a workload's SPIFFE ID, an SSO principal or a super-user
 * is denied without asking the service, and plain roles are asked about as before.
 */
class ProvenRolesTest {

    static final String WRITER = "spiffe://meshgate.test/ns/payments/sa/writer";
    static final String READER = "spiffe://meshgate.test/ns/payments/sa/reader";
    static final String BROKER = "spiffe://meshgate.test/ns/pulsar/sa/pulsar-broker";
    static final String PROXY = "spiffe://meshgate.test/ns/pulsar/sa/pulsar-proxy";
    static final String ALICE = "oidc:https://sso.example.test#alice";
    static final TopicName TOPIC = TopicName.get("persistent://acme/payments/orders");

    /** Authentication data of a connection one of meshgate's providers verified as {@code principal}. */
    static MeshgateCommandData proven(String principal, String kind) {
        MeshgateCommandData data = new MeshgateCommandData("credential", null, null, "tls");
        data.authenticated().verified(Identity.newBuilder().setPrincipal(principal).setCredentialKind(kind).build());
        return data;
    }

    /** Authentication data of a connection another provider (e.g. Pulsar's AuthenticationProviderToken) verified. */
    static AuthenticationDataSource foreign() {
        return new AuthenticationDataCommand("a token of another provider");
    }

    final ProvenRoles roles = new ProvenRoles(Set.of(PROXY), new ShimMetrics(new CollectorRegistry()));

    @Test
    void aRoleMeshgateProvedIsHonoured() {
        assertNull(roles.crossing(WRITER, proven(WRITER, "x509_svid")));
        assertNull(roles.crossing(ALICE, proven(ALICE, "oidc")));
        assertNull(roles.crossing(WRITER, new AuthenticationDataSubscription(proven(WRITER, "k8s_sa_token"), "s")),
                "a consumer's data arrives wrapped with its subscription");
    }

    @Test
    void aSpiffeOrSsoRoleFromAnotherProviderIsRefused() {
        String why = roles.crossing(WRITER, foreign());
        assertEquals(WRITER + " is in the spiffe namespace, which only meshgate's authentication providers produce,"
                + " and no meshgate provider authenticated it here (another authentication provider did, or none)",
                why);
        assertTrue(roles.crossing("SPIFFE://meshgate.test/ns/payments/sa/writer", foreign()) != null);
        assertTrue(roles.crossing(ALICE, foreign()).startsWith(ALICE + " is in the sso namespace"));
        assertTrue(roles.crossing(BROKER, new AuthenticationDataSubscription(foreign(), "s")) != null);
        assertTrue(roles.crossing(WRITER, null) != null, "no data at all proves nothing");
    }

    @Test
    void meshgateDataForSomeoneElseProvesNothing() {
        assertEquals(WRITER + " is in the spiffe namespace, which only meshgate's authentication providers produce,"
                + " and meshgate authenticated this connection as another principal, not as one of proxyRoles",
                roles.crossing(WRITER, proven(READER, "x509_svid")));
        assertTrue(roles.crossing(WRITER, proven(WRITER, "")) != null, "an identity without a kind proves nothing");
        assertTrue(roles.crossing(WRITER, new MeshgateCommandData("unverified", null, null, "token")) != null,
                "data whose credential the service rejected");
    }

    @Test
    void aProxyMeshgateProvedMayNameTheClient() {
        // The broker asks about the original principal with the proxy's data when it has none of the client's.
        assertNull(roles.crossing(WRITER, proven(PROXY, "x509_svid")));
        assertNull(roles.crossing(ALICE, new AuthenticationDataSubscription(proven(PROXY, "x509_svid"), "s")));
    }

    @Test
    void plainRolesAreNotChecked() {
        assertNull(roles.crossing("ops-dashboard", foreign()));
        assertNull(roles.crossing("OIDC:alice", foreign()), "oidc: is case-sensitive, as in kinds.py");
        assertNull(roles.crossing("", null));
        assertNull(roles.crossing(null, null));
    }

    // --- through the authorization provider the broker loads, against a scripted service on 127.0.0.1 ---

    /** Allows every question and records who was asked about. */
    static final class AllowingService extends AuthorizationGrpc.AuthorizationImplBase {
        final List<String> asked = new CopyOnWriteArrayList<>();

        @Override
        public void authorizeBatch(AuthorizeBatchRequest request, StreamObserver<AuthorizeBatchResponse> observer) {
            AuthorizeBatchResponse.Builder response = AuthorizeBatchResponse.newBuilder();
            for (AuthorizeRequest item : request.getRequestsList()) {
                asked.add(item.getPrincipal() + " " + item.getAction());
                response.addDecisions(Decision.newBuilder().setAllowed(true).setRevision("r1"));
            }
            observer.onNext(response.build());
            observer.onCompleted();
        }
    }

    LoopbackProvider loopback;
    MeshgateAuthorizationProvider provider;

    @AfterEach
    void stop() {
        if (loopback != null) {
            loopback.close();
        }
    }

    private AllowingService start() throws Exception {
        AllowingService service = new AllowingService();
        loopback = LoopbackProvider.start(service, conf -> {
            conf.setSuperUserRoles(Set.of(BROKER, PROXY));
            conf.setProxyRoles(Set.of(PROXY));
        });
        provider = loopback.provider;
        return service;
    }

    private static double crossings() {
        Double value = CollectorRegistry.defaultRegistry.getSampleValue("meshgate_shim_decisions_total",
                new String[] {"result", "reason"}, new String[] {"deny", "principal_crosses_kind"});
        return value == null ? 0 : value;
    }

    @Test
    void anotherProvidersWorkloadRoleIsDeniedWithoutAsking() throws Exception {
        AllowingService service = start();
        double before = crossings();
        assertFalse(provider.canProduceAsync(TOPIC, WRITER, foreign()).join());
        assertFalse(provider.canConsumeAsync(TOPIC, ALICE, new AuthenticationDataSubscription(foreign(), "s"), "s")
                .join());
        assertEquals(List.of(), service.asked);
        assertEquals(2, crossings() - before);
        assertTrue(provider.canProduceAsync(TOPIC, WRITER, proven(WRITER, "x509_svid")).join());
        assertTrue(provider.canProduceAsync(TOPIC, "ops-dashboard", foreign()).join());
        assertEquals(List.of(WRITER + " topic.produce", "ops-dashboard topic.produce"), service.asked);
    }

    @Test
    void anotherProvidersSuperUserRoleIsNoSuperUser() throws Exception {
        AllowingService service = start();
        assertFalse(provider.isSuperUser(BROKER, foreign(), null).join());
        assertTrue(provider.isSuperUser(BROKER, proven(BROKER, "k8s_sa_token"), null).join());
        assertEquals(List.of(), service.asked, "a proven super-user is allowed without a call");
    }

    @Test
    void behindAProxyTheClientIsProvenByItsOwnDataOrByTheProxys() throws Exception {
        AllowingService service = start();
        // authenticateOriginalAuthData=true: the client's own credential, verified by this broker's providers.
        assertTrue(provider.canProduceAsync(TOPIC, WRITER, proven(WRITER, "k8s_sa_token")).join());
        // ... unless another provider of this broker verified it: the forwarded token named the workload.
        assertFalse(provider.canProduceAsync(TOPIC, WRITER, foreign()).join());
        // authenticateOriginalAuthData=false: the proxy's own data, verified by meshgate, stands in.
        assertTrue(provider.canProduceAsync(TOPIC, ALICE, proven(PROXY, "x509_svid")).join());
        assertEquals(List.of(WRITER + " topic.produce", ALICE + " topic.produce"), service.asked);
    }
}
