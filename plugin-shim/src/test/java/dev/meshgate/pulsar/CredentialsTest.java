package dev.meshgate.pulsar;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetSocketAddress;
import java.util.Map;
import java.util.Optional;
import org.apache.pulsar.broker.authentication.AuthenticationDataCommand;
import org.apache.pulsar.broker.authentication.AuthenticationDataSource;
import org.junit.jupiter.api.Test;

class CredentialsTest {

    @Test
    void tokenComesFromTheConnectCommand() {
        AuthenticationDataSource data = new AuthenticationDataCommand("eyJ.a.b");
        assertEquals("eyJ.a.b", Credentials.token(data).orElseThrow().getToken());
    }

    @Test
    void blankCommandDataIsNoToken() {
        assertEquals(Optional.empty(), Credentials.token(new AuthenticationDataCommand("")));
        assertEquals(Optional.empty(), Credentials.token(null));
    }

    @Test
    void bearerHeaderOnHttp() {
        AuthenticationDataSource http = http(Map.of("Authorization", "Bearer tok.en.value"));
        assertEquals("tok.en.value", Credentials.token(http).orElseThrow().getToken());
        assertEquals("http", Credentials.peer(http, "token").getTransport());
    }

    @Test
    void oneOriginalPrincipalOrNoneIsAccepted() {
        assertTrue(MeshgateAuthenticationProvider.atMostOneOriginalPrincipal(java.util.List.of()));
        assertTrue(MeshgateAuthenticationProvider.atMostOneOriginalPrincipal(
                java.util.List.of("spiffe://td/ns/a/sa/b")));
    }

    @Test
    void aSecondOriginalPrincipalIsRefusedWhateverItsShape() {
        assertFalse(MeshgateAuthenticationProvider.atMostOneOriginalPrincipal(
                java.util.List.of("spiffe://td/ns/pulsar/sa/broker", "spiffe://td/ns/a/sa/writer")));
        assertFalse(MeshgateAuthenticationProvider.atMostOneOriginalPrincipal(
                java.util.List.of("spiffe://td/ns/pulsar/sa/broker,spiffe://td/ns/a/sa/writer")));
        assertFalse(MeshgateAuthenticationProvider.atMostOneOriginalPrincipal(java.util.List.of("", "")));
    }

    @Test
    void noTlsSessionMeansNoCertificateChain() throws Exception {
        assertTrue(Credentials.certificateChain(new AuthenticationDataCommand("x")).isEmpty());
    }

    @Test
    void meshHeaderComesOnlyFromHttp() {
        AuthenticationDataSource http =
                http(Map.of("l5d-client-id", " web.shop.serviceaccount.identity.linkerd.cluster.local "));
        assertEquals("web.shop.serviceaccount.identity.linkerd.cluster.local",
                Credentials.meshHeader(http, "l5d-client-id").orElseThrow().getL5DClientId());
        assertTrue(Credentials.meshHeader(new AuthenticationDataCommand("x"), "l5d-client-id").isEmpty());
    }

    @Test
    void peerAddressIsPlainHostAndPort() {
        // The broker hands HTTP peers over as unresolved addresses, whose toString() adds "/<unresolved>".
        assertEquals("127.0.0.1:4711", Credentials.address(InetSocketAddress.createUnresolved("127.0.0.1", 4711)));
    }

    /** An HTTP request's auth data carrying exactly `headers`. */
    private static AuthenticationDataSource http(Map<String, String> headers) {
        return new AuthenticationDataSource() {
            @Override
            public boolean hasDataFromHttp() {
                return true;
            }

            @Override
            public String getHttpHeader(String name) {
                return headers.get(name);
            }
        };
    }
}
