package dev.meshgate.pulsar;

import com.google.protobuf.ByteString;
import dev.meshgate.proto.v1.CertificateChain;
import dev.meshgate.proto.v1.Credential;
import dev.meshgate.proto.v1.Peer;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.security.cert.Certificate;
import java.security.cert.CertificateEncodingException;
import java.util.Optional;
import org.apache.pulsar.broker.authentication.AuthenticationDataSource;

/** Turns what the broker knows about a connection into the proto {@link Credential} and {@link Peer}. */
final class Credentials {

    static final String BEARER = "Bearer ";

    private Credentials() {
    }

    /** The TLS client certificate chain, leaf first, or empty when the connection presented none. */
    static Optional<Credential> certificateChain(AuthenticationDataSource data) throws CertificateEncodingException {
        if (data == null || !data.hasDataFromTls()) {
            return Optional.empty();
        }
        Certificate[] certs = data.getTlsCertificates();
        if (certs == null || certs.length == 0) {
            return Optional.empty();
        }
        CertificateChain.Builder chain = CertificateChain.newBuilder();
        for (Certificate cert : certs) {
            chain.addDer(ByteString.copyFrom(cert.getEncoded()));
        }
        return Optional.of(Credential.newBuilder().setCertificateChain(chain).build());
    }

    /** The bearer token from the binary CONNECT command or the HTTP Authorization header. */
    static Optional<Credential> token(AuthenticationDataSource data) {
        if (data == null) {
            return Optional.empty();
        }
        String token = null;
        if (data.hasDataFromCommand()) {
            token = data.getCommandData();
        } else if (data.hasDataFromHttp()) {
            String header = data.getHttpHeader("Authorization");
            if (header != null && header.startsWith(BEARER)) {
                token = header.substring(BEARER.length());
            }
        }
        if (token == null || token.isBlank()) {
            return Optional.empty();
        }
        // As bytes: the token is then encoded once here (String.getBytes, an intrinsic) instead of char by char by
        // protobuf's encoder each time a message holding it is serialized, and hashed as is (DecisionKey.hash).
        return Optional.of(Credential.newBuilder().setTokenBytes(ByteString.copyFromUtf8(token.trim())).build());
    }

    /** A mesh identity header on an HTTP request (never on the binary protocol). */
    static Optional<Credential> meshHeader(AuthenticationDataSource data, String header) {
        if (data == null || !data.hasDataFromHttp()) {
            return Optional.empty();
        }
        String value = data.getHttpHeader(header);
        if (value == null || value.isBlank()) {
            return Optional.empty();
        }
        return Optional.of(Credential.newBuilder().setL5DClientId(value.trim()).build());
    }

    /** "host:port" without a resolver's decoration, so the service can tell a loopback peer reliably. */
    static String address(SocketAddress address) {
        if (address instanceof InetSocketAddress inet) {
            return inet.getHostString() + ":" + inet.getPort();
        }
        return address.toString();
    }

    /**
     * The peer of an authorization question: the connection's address and transport, and the auth method when
     * meshgate authenticated it ("" for another provider's).
     */
    static Peer peerOf(AuthenticationDataSource data) {
        Authenticated known = Authenticated.of(data);
        return known != null ? known.peer(data) : peer(data, "");
    }

    /** The credential kind meshgate verified for {@code role} on this connection, or "" (see {@link Authenticated}). */
    static String credentialKind(AuthenticationDataSource data, String role) {
        Authenticated known = Authenticated.of(data);
        return known != null ? known.credentialKindOf(role) : "";
    }

    static Peer peer(AuthenticationDataSource data, String authMethod) {
        Peer.Builder peer = Peer.newBuilder().setAuthMethod(authMethod);
        if (data != null) {
            SocketAddress address = data.getPeerAddress();
            if (address != null) {
                peer.setAddress(address(address));
            }
            peer.setTransport(data.hasDataFromHttp() ? "http" : "binary");
        }
        return peer.build();
    }
}
