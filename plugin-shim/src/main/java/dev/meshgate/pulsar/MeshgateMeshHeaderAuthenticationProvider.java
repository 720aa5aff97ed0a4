package dev.meshgate.pulsar;

import dev.meshgate.proto.v1.Credential;
import java.util.Optional;
import org.apache.pulsar.broker.authentication.AuthenticationDataSource;

/**
 * Auth method "l5d": the {@code l5d-client-id} header that the pod's own Linkerd proxy puts on HTTP requests
 * (admin and lookup REST) it has already authenticated with mTLS. The service accepts it only when enabled
 * and only from a loopback peer (the local proxy); the binary protocol never carries it.
 */
public class MeshgateMeshHeaderAuthenticationProvider extends MeshgateAuthenticationProvider {

    static final String HEADER = "l5d-client-id";

    @Override
    public String getAuthMethodName() {
        return "l5d";
    }

    @Override
    protected Optional<Credential> credential(AuthenticationDataSource data) {
        return Credentials.meshHeader(data, HEADER);
    }
}
