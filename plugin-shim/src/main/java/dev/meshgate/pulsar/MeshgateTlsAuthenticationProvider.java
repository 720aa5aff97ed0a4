package dev.meshgate.pulsar;

import dev.meshgate.proto.v1.Credential;
import java.util.Optional;
import org.apache.pulsar.broker.authentication.AuthenticationDataSource;

/** Auth method "tls": the client certificate chain (X.509-SVID or Linkerd identity) proves the workload. */
public class MeshgateTlsAuthenticationProvider extends MeshgateAuthenticationProvider {

    @Override
    public String getAuthMethodName() {
        return "tls";
    }

    @Override
    protected Optional<Credential> credential(AuthenticationDataSource data) throws Exception {
        return Credentials.certificateChain(data);
    }
}
