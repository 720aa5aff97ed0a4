import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.apache.pulsar.common.naming.NamedEntity;
import org.apache.pulsar.common.naming.NamespaceName;
import org.apache.pulsar.common.naming.TopicName;

/**
 * Prints whether Pulsar's own {@code NamedEntity}, {@code NamespaceName} and {@code TopicName} accept a name
 * in each place a name goes, for meshgate's checked-in table
 * (tests/conformance/pulsar_names/entity_names.json). Run on a broker classpath:
 * {@code java -cp "$(cat .cache/broker/4.0.7/classpath.txt)" EntityNameTable.java < names}.
 *
 * <p>Input: one name per line, as {@code n:} and its UTF-16 code units in decimal, separated by spaces.
 * Output: one JSON array per name, the answers in the order of {@code PLACES} in table.py.
 */
public final class EntityNameTable {

    private EntityNameTable() {
    }

    public static void main(String[] args) throws Exception {
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line = in.readLine(); line != null; line = in.readLine()) {
            if (line.startsWith("n:")) {
                String name = decode(line.substring(2).strip());
                out.println("[" + accepts(() -> NamedEntity.checkName(name))
                        + ", " + accepts(() -> NamespaceName.get(name, "ns"))
                        + ", " + accepts(() -> NamespaceName.get("acme", name))
                        + ", " + accepts(() -> NamespaceName.get("acme/" + name + "/ns"))
                        + ", " + accepts(() -> TopicName.get("persistent://" + name + "/ns/t"))
                        + ", " + accepts(() -> TopicName.get("persistent://acme/" + name + "/t"))
                        + ", " + accepts(() -> TopicName.get("persistent://acme/ns/" + name))
                        + ", " + accepts(() -> TopicName.get("persistent://acme/" + name + "/ns/t"))
                        + "]");
            }
        }
    }

    private static String decode(String units) {
        StringBuilder name = new StringBuilder();
        for (String unit : units.isEmpty() ? new String[0] : units.split(" ")) {
            name.append((char) Integer.parseInt(unit));
        }
        return name.toString();
    }

    private static boolean accepts(Runnable parse) {
        try {
            parse.run();
            return true;
        } catch (RuntimeException e) {
            return false;
        }
    }
}
