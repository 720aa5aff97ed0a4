package dev.meshgate.pulsar;

import dev.meshgate.proto.v1.Identity;

/**
 * What meshgate's authentication of one connection (or one HTTP request) established, kept on the
 * {@link org.apache.pulsar.broker.authentication.AuthenticationDataSource} the broker hands back with every
 * authorization question on it, so each question can name its auth method and credential kind for the audit
 * trail. Set once the service has verified the credential; read on the broker's threads.
 */
final class Authenticated {

    private final String authMethod;
    private volatile Identity identity;

    Authenticated(String authMethod) {
        this.authMethod = authMethod;
    }

    String authMethod() {
        return authMethod;
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
