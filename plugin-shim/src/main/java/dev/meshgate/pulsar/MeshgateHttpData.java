package dev.meshgate.pulsar;

import javax.servlet.http.HttpServletRequest;
import org.apache.pulsar.broker.authentication.AuthenticationDataHttps;

/** An HTTP request's authentication data, as Pulsar's own, plus what meshgate verified about it. */
final class MeshgateHttpData extends AuthenticationDataHttps implements AuthenticatedData {

    private final Authenticated authenticated;

    MeshgateHttpData(HttpServletRequest request, String authMethod) {
        super(request);
        this.authenticated = new Authenticated(authMethod);
    }

    @Override
    public Authenticated authenticated() {
        return authenticated;
    }
}
