package dev.meshgate.pulsar;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.reflect.Method;
import java.util.Objects;
import org.apache.pulsar.broker.authentication.AuthenticationDataSource;
import org.apache.pulsar.broker.service.ServerCnx;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Who is asking on one binary connection, as the broker authorizes its commands: the role the connection
 * authenticated as and, when that role is a proxy's, the original principal the proxy speaks for (both are
 * asked, and both must be allowed), each with its authentication data.
 *
 * @param role the connection's authenticated role ({@code ServerCnx.getAuthRole()}); null before CONNECT
 * @param originalPrincipal the client behind a proxy, or null
 * @param data the connection's authentication data
 * @param originalData the original principal's, when the broker authenticated it
 *                     ({@code authenticateOriginalAuthData=true}); otherwise null and {@code data} stands in,
 *                     as it does in the broker's own checks
 */
record ConnectionPrincipals(String role, String originalPrincipal, AuthenticationDataSource data,
                            AuthenticationDataSource originalData) {

    /**
     * Reads them from a live connection. {@code getPrincipal()} is the original principal when there is one
     * and the role otherwise; with authorization on, the broker refuses at CONNECT a non-proxy role that names
     * any original principal and a proxy role that names none or a proxy role, so on a live connection the
     * original principal never equals the role.
     */
    static ConnectionPrincipals of(ServerCnx cnx) {
        String role = cnx.getAuthRole();
        String principal = cnx.getPrincipal();
        String original = Objects.equals(principal, role) ? null : principal;
        return new ConnectionPrincipals(role, original, cnx.getAuthenticationData(),
                original == null ? null : OriginalAuthData.of(cnx));
    }

    /** False when this broker's {@code ServerCnx} has no readable {@code getOriginalAuthData()} (logged once). */
    static boolean readsOriginalAuthData() {
        return OriginalAuthData.GETTER != null;
    }

    /** {@code ServerCnx.getOriginalAuthData()} is protected (4.0 and 4.2); read once through reflection. */
    private static final class OriginalAuthData {

        private static final Logger LOG = LoggerFactory.getLogger(ConnectionPrincipals.class);
        private static final MethodHandle GETTER = find();

        private static MethodHandle find() {
            try {
                Method method = ServerCnx.class.getDeclaredMethod("getOriginalAuthData");
                method.setAccessible(true);
                return MethodHandles.lookup().unreflect(method);
            } catch (ReflectiveOperationException | RuntimeException e) {
                LOG.warn("meshgate: cannot read ServerCnx.getOriginalAuthData() ({}); behind a proxy, schema"
                        + " commands are authorized with the proxy connection's credential for the original principal",
                        e.toString());
                return null;
            }
        }

        static AuthenticationDataSource of(ServerCnx cnx) {
            if (GETTER == null) {
                return null;
            }
            try {
                return (AuthenticationDataSource) GETTER.invoke(cnx);
            } catch (Throwable e) {
                LOG.warn("meshgate: ServerCnx.getOriginalAuthData() failed: {}", e.toString());
                return null;
            }
        }
    }
}
