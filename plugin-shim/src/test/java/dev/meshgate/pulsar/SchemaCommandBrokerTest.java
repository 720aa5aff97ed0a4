package dev.meshgate.pulsar;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prometheus.client.CollectorRegistry;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import org.apache.pulsar.broker.PulsarServerException;
import org.apache.pulsar.broker.ServiceConfiguration;
import org.apache.pulsar.broker.authentication.AuthenticationDataSource;
import org.apache.pulsar.broker.authorization.AuthorizationService;
import org.apache.pulsar.broker.resources.PulsarResources;
import org.apache.pulsar.common.api.proto.ServerError;
import org.apache.pulsar.common.intercept.InterceptException;
import org.apache.pulsar.common.naming.TopicName;
import org.apache.pulsar.common.policies.data.TopicOperation;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The schema commands are asked of the broker's own {@link AuthorizationService}, as the broker asks for a
 * lookup: one principal on a direct connection, both the proxy's role and the client's behind a proxy.
 */
class SchemaCommandBrokerTest {

    static final String TOPIC = SchemaCommandGuardTest.TOPIC;
    static final AuthenticationDataSource PROXY_DATA = new AuthenticationDataSource() {
    };
    static final AuthenticationDataSource CLIENT_DATA = new AuthenticationDataSource() {
    };

    /** The provider the broker loads by class name: records each question, allows the roles in ALLOWED. */
    public static final class RecordingProvider extends MeshgateAuthorizationProvider {
        static final List<String> ASKED = new ArrayList<>();
        static final Map<String, AuthenticationDataSource> DATA = new HashMap<>();
        static final Set<String> ALLOWED = new HashSet<>();

        @Override
        public void initialize(ServiceConfiguration conf, PulsarResources resources) {
            // No runtime: every answer comes from ALLOWED.
        }

        @Override
        public synchronized CompletableFuture<Boolean> allowTopicOperationAsync(TopicName topic, String role,
                                                                                 TopicOperation operation,
                                                                                 AuthenticationDataSource data) {
            ASKED.add(role + " " + operation + " " + topic);
            DATA.put(role, data);
            return CompletableFuture.completedFuture(ALLOWED.contains(role));
        }
    }

    SchemaCommandGuard guard;

    @BeforeEach
    void brokerWithAProxyRole() throws PulsarServerException {
        RecordingProvider.ASKED.clear();
        RecordingProvider.DATA.clear();
        RecordingProvider.ALLOWED.clear();
        ServiceConfiguration conf = new ServiceConfiguration();
        conf.setAuthorizationEnabled(true);
        conf.setAuthorizationProvider(RecordingProvider.class.getName());
        conf.setProxyRoles(Set.of("proxy"));
        AuthorizationService service = new AuthorizationService(conf, null);
        guard = new SchemaCommandGuard(SchemaCommandGuard.broker(() -> service), 100,
                new ShimMetrics(new CollectorRegistry()));
    }

    void check(ConnectionPrincipals principals) throws InterceptException {
        guard.check(SchemaCommandGuardTest.getSchema(TOPIC), principals);
    }

    void refused(ConnectionPrincipals principals) {
        InterceptException refusal = assertThrows(InterceptException.class, () -> check(principals));
        assertEquals(ServerError.AuthorizationError.getValue(), refusal.getErrorCode());
    }

    @Test
    void aDirectConnectionIsAskedAboutItsRole() throws InterceptException {
        RecordingProvider.ALLOWED.add("writer");
        check(new ConnectionPrincipals("writer", null, CLIENT_DATA, null));
        assertEquals(List.of("writer LOOKUP " + TOPIC), RecordingProvider.ASKED);
        assertEquals(CLIENT_DATA, RecordingProvider.DATA.get("writer"));
        refused(new ConnectionPrincipals("stranger", null, CLIENT_DATA, null));
    }

    @Test
    void behindAProxyBothPrincipalsMustBeAllowed() throws InterceptException {
        ConnectionPrincipals proxied = new ConnectionPrincipals("proxy", "writer", PROXY_DATA, CLIENT_DATA);
        RecordingProvider.ALLOWED.add("proxy");
        refused(proxied);
        assertEquals(Set.of("proxy LOOKUP " + TOPIC, "writer LOOKUP " + TOPIC), Set.copyOf(RecordingProvider.ASKED));
        assertEquals(PROXY_DATA, RecordingProvider.DATA.get("proxy"));
        assertEquals(CLIENT_DATA, RecordingProvider.DATA.get("writer"), "the client's own credential");
        RecordingProvider.ALLOWED.add("writer");
        check(proxied);
        RecordingProvider.ALLOWED.remove("proxy");
        refused(proxied);
    }

    @Test
    void withoutTheClientsOwnCredentialTheConnectionsStandsIn() throws InterceptException {
        RecordingProvider.ALLOWED.addAll(Set.of("proxy", "writer"));
        check(new ConnectionPrincipals("proxy", "writer", PROXY_DATA, null));
        assertEquals(PROXY_DATA, RecordingProvider.DATA.get("writer"));
    }

    @Test
    void anOriginalPrincipalTheBrokerWouldNotAcceptIsRefusedWithoutAsking() {
        RecordingProvider.ALLOWED.addAll(Set.of("proxy", "writer", "reader"));
        refused(new ConnectionPrincipals("proxy", null, PROXY_DATA, null));  // a proxy must name its client
        refused(new ConnectionPrincipals("reader", "writer", CLIENT_DATA, null));  // only a proxy may
        assertTrue(RecordingProvider.ASKED.isEmpty(), RecordingProvider.ASKED.toString());
    }

    @Test
    void theOriginalAuthDataGetterIsReachableOnThisPulsar() {
        assertTrue(ConnectionPrincipals.readsOriginalAuthData());
    }
}
