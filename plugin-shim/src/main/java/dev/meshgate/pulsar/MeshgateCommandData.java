package dev.meshgate.pulsar;

import java.net.SocketAddress;
import javax.net.ssl.SSLSession;
import org.apache.pulsar.broker.authentication.AuthenticationDataCommand;

/** A binary connection's authentication data, as Pulsar's own, plus what meshgate verified about it. */
final class MeshgateCommandData extends AuthenticationDataCommand implements AuthenticatedData {

    private final Authenticated authenticated;

    MeshgateCommandData(String command, SocketAddress remoteAddress, SSLSession sslSession, String authMethod) {
        super(command, remoteAddress, sslSession);
        this.authenticated = new Authenticated(authMethod);
    }

    @Override
    public Authenticated authenticated() {
        return authenticated;
    }
}
