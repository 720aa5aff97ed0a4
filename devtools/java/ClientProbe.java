import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.pulsar.client.api.AuthenticationFactory;
import org.apache.pulsar.client.api.PulsarClient;
import org.apache.pulsar.client.api.PulsarClientException;

/**
 * What the real Java client gets from a broker: {@code java ClientProbe URL TOKEN OP_TIMEOUT_SECONDS}, then
 * one command a line on stdin ({@code produce TOPIC}, {@code subscribe TOPIC SUBSCRIPTION}); one JSON line
 * per command on stdout: the exception's class and message (or ok) and the seconds it took. Handles stay
 * open, so later commands reuse the client's connection, as an application's would.
 */
public final class ClientProbe {

    private ClientProbe() {
    }

    public static void main(String[] args) throws Exception {
        List<AutoCloseable> open = new ArrayList<>();
        try (PulsarClient client = PulsarClient.builder().serviceUrl(args[0])
                .authentication(AuthenticationFactory.token(args[1]))
                .operationTimeout(Integer.parseInt(args[2]), TimeUnit.SECONDS)
                .connectionTimeout(Integer.parseInt(args[2]), TimeUnit.SECONDS)
                .build()) {
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            for (String line = in.readLine(); line != null; line = in.readLine()) {
                String[] cmd = line.trim().split(" ");
                long began = System.nanoTime();
                String outcome;
                try {
                    if (cmd[0].equals("produce")) {
                        var producer = client.newProducer().topic(cmd[1]).create();
                        producer.send("m".getBytes(StandardCharsets.UTF_8));
                        open.add(producer);
                    } else {
                        open.add(client.newConsumer().topic(cmd[1]).subscriptionName(cmd[2]).subscribe());
                    }
                    outcome = "\"ok\": true";
                } catch (PulsarClientException e) {
                    outcome = "\"ok\": false, \"error\": \"" + e.getClass().getSimpleName() + "\", \"retriable\": "
                            + PulsarClientException.isRetriableError(e) + ", \"message\": \""
                            + String.valueOf(e.getMessage()).replace("\\", "/").replace("\"", "'").replace("\n", " ")
                            + "\"";
                }
                double seconds = (System.nanoTime() - began) / 1e9;
                System.out.println("{" + outcome + ", \"seconds\": " + seconds + "}");
                System.out.flush();
            }
        } finally {
            for (AutoCloseable handle : open) {
                handle.close();
            }
        }
    }
}
