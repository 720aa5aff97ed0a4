package dev.meshgate.pulsar;

import dev.meshgate.proto.v1.Credential;
import java.util.Optional;
import org.apache.pulsar.broker.authentication.AuthenticationDataSource;

/** Auth method "token": an OIDC or Kubernetes service-account JWT, what stock clients send for tokens. */
public class MeshgateTokenAuthenticationProvider extends MeshgateAuthenticationProvider {

    @Override
    public String getAuthMethodName() {
        return "token";
    }

    @Override
    protected Optional<Credential> credential(AuthenticationDataSource data) {
        return Credentials.token(data);
    }
}
