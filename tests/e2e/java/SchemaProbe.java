import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.pulsar.client.api.PulsarClient;
import org.apache.pulsar.client.impl.ClientCnx;
import org.apache.pulsar.client.impl.PulsarClientImpl;
import org.apache.pulsar.client.impl.auth.AuthenticationTls;
import org.apache.pulsar.common.protocol.Commands;
import org.apache.pulsar.common.schema.SchemaInfo;
import org.apache.pulsar.common.schema.SchemaType;

/**
 * End-to-end test helper (not shipped): sends CommandGetOrCreateSchema with the real Java client, once per
 * identity and in order, each on its own connection straight to the broker (no lookup first, as a client with
 * no grant would), and prints one JSON line per identity: "ok" with the schema version as the message, or
 * the client exception the broker's ServerError became (AuthorizationError is AuthorizationException).
 *
 * <p>Usage: {@code SchemaProbe <pulsar+ssl://host:port> <ca> <topic> (<name> <cert> <key> <JSON schema>)...}.
 * The Python client cannot send this command at all (the C++ client has no such request), hence Java; one JVM
 * for every identity because starting one costs seconds.
 */
public final class SchemaProbe {

    private SchemaProbe() {
    }

    public static void main(String[] args) throws Exception {
        for (int i = 3; i + 3 < args.length; i += 4) {
            System.out.println(json(args[i], getOrCreateSchema(args[0], args[1], args[i + 1], args[i + 2], args[2],
                    args[i + 3])));
        }
    }

    private static String[] getOrCreateSchema(String url, String ca, String cert, String key, String topic,
                                              String definition) throws Exception {
        SchemaInfo schema = SchemaInfo.builder().name("probe").type(SchemaType.JSON)
                .schema(definition.getBytes(StandardCharsets.UTF_8)).build();
        try (PulsarClient client = PulsarClient.builder().serviceUrl(url).tlsTrustCertsFilePath(ca)
                .authentication(new AuthenticationTls(cert, key)).operationTimeout(10, TimeUnit.SECONDS).build()) {
            PulsarClientImpl impl = (PulsarClientImpl) client;
            ClientCnx cnx = impl.getConnectionToServiceUrl().get(10, TimeUnit.SECONDS);
            long requestId = impl.newRequestId();
            byte[] version = cnx.sendGetOrCreateSchema(Commands.newGetOrCreateSchema(requestId, topic, schema),
                    requestId).get(10, TimeUnit.SECONDS);
            return new String[] {"ok", Long.toString(ByteBuffer.wrap(version).getLong())};
        } catch (ExecutionException e) {
            // ClientCnx turns the ServerError into an exception: AuthorizationError -> AuthorizationException.
            return new String[] {e.getCause().getClass().getSimpleName(), e.getCause().getMessage()};
        }
    }

    private static String json(String identity, String[] outcome) {
        return "{\"identity\": \"" + escape(identity) + "\", \"result\": \"" + escape(outcome[0])
                + "\", \"message\": \"" + escape(outcome[1]) + "\"}";
    }

    private static String escape(String text) {
        return String.valueOf(text).replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", " ");
    }
}
