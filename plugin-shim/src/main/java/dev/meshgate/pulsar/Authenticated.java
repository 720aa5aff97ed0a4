package dev.meshgate.pulsar;

import dev.meshgate.proto.v1.Identity;
import dev.meshgate.proto.v1.Peer;
import org.apache.pulsar.broker.authentication.AuthenticationDataSource;
import org.apache.pulsar.broker.authentication.AuthenticationDataSubscription;

/**
 * What meshgate's authentication of one connection (or one HTTP request) established, kept on the
 * {@link org.apache.pulsar.broker.authentication.AuthenticationDataSource} the broker hands back with every
 * authorization question on it, so each question can name its auth method and credential kind for the audit
 * trail. Set once the service has verified the credential; read on the broker's threads.
 */
final class Authenticated {

    /** Pulsar wraps a connection's data once per question; more than this is not Pulsar's doing. */
    private static final int MAX_WRAPPING = 4;

    private final String authMethod;
    private volatile Identity identity;
    // The connection's peer never changes; built once instead of for every question (address formatting
    // and a message per question showed in the broker's profile of a reconnect storm, finding 35).
    private volatile Peer peer;

    Authenticated(String authMethod) {
        this.authMethod = authMethod;
    }

    /**
     * What meshgate verified about {@code data}, through Pulsar's subscription wrapper (a consumer's questions
     * carry the connection's data in an {@link AuthenticationDataSubscription}); null when nothing.
     */
    static Authenticated of(AuthenticationDataSource data) {
        AuthenticationDataSource inner = data;
        for (int i = 0; i < MAX_WRAPPING && inner instanceof AuthenticationDataSubscription wrapped; i++) {
            inner = wrapped.getAuthData();
        }
        return inner instanceof AuthenticatedData known ? known.authenticated() : null;
    }

    String authMethod() {
        return authMethod;
    }

    /** The peer of every question on {@code data}, the connection this was set on. */
    Peer peer(AuthenticationDataSource data) {
        Peer known = peer;
        if (known == null) {
            known = Credentials.peer(data, authMethod);
            peer = known;
        }
        return known;
    }

    void verified(Identity verified) {
        identity = verified;
    }

    /**
     * The kind of credential that proved {@code role} here, or "" when this connection did not authenticate
     * as {@code role}: behind a Pulsar proxy that does not forward its client's credential, the broker hands
     * the proxy's own connection data in for the client's principal.
     */
    String credentialKindOf(String role) {
        Identity known = identity;
        return known != null && known.getPrincipal().equals(role) ? known.getCredentialKind() : "";
    }
}
