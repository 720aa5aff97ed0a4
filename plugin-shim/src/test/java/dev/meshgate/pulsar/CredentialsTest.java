package dev.meshgate.pulsar;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshgate.proto.v1.Identity;
import dev.meshgate.proto.v1.Peer;
import java.net.InetSocketAddress;
import java.util.List;
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
    void aConnectionMeshgateAuthenticatedNamesItsMethodPeerAndKindForItsOwnRoleOnly() {
        MeshgateCommandData data = new MeshgateCommandData("eyJ.a.b", new InetSocketAddress("10.0.3.7", 51234),
                null, "token");
        assertEquals("", Credentials.credentialKind(data, "spiffe://td/ns/a/sa/b"), "not verified yet");
        data.authenticated().verified(Identity.newBuilder().setPrincipal("spiffe://td/ns/a/sa/b")
                .setCredentialKind("k8s_sa_token").build());
        Peer peer = Credentials.peerOf(data);
        assertEquals(List.of("10.0.3.7:51234", "token", "binary"),
                List.of(peer.getAddress(), peer.getAuthMethod(), peer.getTransport()));
        assertEquals("k8s_sa_token", Credentials.credentialKind(data, "spiffe://td/ns/a/sa/b"));
        assertEquals("", Credentials.credentialKind(data, "oidc:https://idp#alice"),
                "a proxy's connection standing in for its client's principal proves nothing about that client");
        assertEquals("", Credentials.credentialKind(new AuthenticationDataCommand("x"), "spiffe://td/ns/a/sa/b"));
        assertEquals("", Credentials.peerOf(new AuthenticationDataCommand("x")).getAuthMethod());
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
    static AuthenticationDataSource http(Map<String, String> headers) {
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
