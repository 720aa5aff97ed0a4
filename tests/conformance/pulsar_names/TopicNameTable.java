import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.apache.pulsar.common.naming.TopicName;

/**
 * Prints how Pulsar's own {@code TopicName} reads topic names, for meshgate's checked-in table
 * (tests/conformance/pulsar_names/topic_names.json). Run on a broker classpath:
 * {@code java -cp "$(cat .cache/broker/4.0.7/classpath.txt)" TopicNameTable.java < names}.
 *
 * <p>Input: one name per line as an ASCII JSON string literal. Output: one JSON object per name, then one
 * line with the BMP code points c for which "x-partition-" + c is a partition (as ranges).
 */
public final class TopicNameTable {

    private TopicNameTable() {
    }

    public static void main(String[] args) throws Exception {
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line = in.readLine(); line != null; line = in.readLine()) {
            if (!line.isBlank()) {
                out.println(row(unquote(line.strip())));
            }
        }
        out.println("{\"partition_digit_ranges\": " + digitRanges() + "}");
    }

    private static String row(String name) {
        StringBuilder json = new StringBuilder("{\"name\": ").append(quote(name));
        json.append(", \"partition_index\": ").append(TopicName.getPartitionIndex(name));
        TopicName topic;
        try {
            topic = TopicName.get(name);
        } catch (RuntimeException e) {
            return json.append(", \"valid\": false}").toString();
        }
        json.append(", \"valid\": true");
        json.append(", \"string\": ").append(quote(topic.toString()));
        json.append(", \"tenant\": ").append(quote(topic.getTenant()));
        json.append(", \"namespace\": ").append(quote(topic.getNamespace()));
        json.append(", \"local\": ").append(quote(topic.getLocalName()));
        json.append(", \"partitioned\": ").append(topic.isPartitioned());
        json.append(", \"partitioned_topic\": ").append(quote(topic.getPartitionedTopicName()));
        return json.append("}").toString();
    }

    private static String digitRanges() {
        List<String> ranges = new ArrayList<>();
        int start = -1;
        for (int c = 0; c <= 0x10000; c++) {
            boolean digit = c < 0x10000 && !Character.isSurrogate((char) c)
                    && TopicName.getPartitionIndex("persistent://t/n/x-partition-" + (char) c) != -1;
            if (digit && start < 0) {
                start = c;
            } else if (!digit && start >= 0) {
                ranges.add("[" + start + ", " + (c - 1) + "]");
                start = -1;
            }
        }
        return "[" + String.join(", ", ranges) + "]";
    }

    private static String quote(String text) {
        if (text == null) {
            return "null";
        }
        StringBuilder json = new StringBuilder("\"");
        for (char c : text.toCharArray()) {
            if (c == '"' || c == '\\') {
                json.append('\\').append(c);
            } else if (c < 0x20 || c > 0x7e) {
                json.append(String.format("\\u%04x", (int) c));
            } else {
                json.append(c);
            }
        }
        return json.append('"').toString();
    }

    /** Decodes an ASCII JSON string literal (the escapes Python's json.dumps writes). */
    private static String unquote(String literal) {
        StringBuilder text = new StringBuilder();
        for (int i = 1; i < literal.length() - 1; i++) {
            char c = literal.charAt(i);
            if (c != '\\') {
                text.append(c);
                continue;
            }
            char escape = literal.charAt(++i);
            switch (escape) {
                case 'u' -> {
                    text.append((char) Integer.parseInt(literal.substring(i + 1, i + 5), 16));
                    i += 4;
                }
                case 'n' -> text.append('\n');
                case 'r' -> text.append('\r');
                case 't' -> text.append('\t');
                case 'b' -> text.append('\b');
                case 'f' -> text.append('\f');
                default -> text.append(escape);
            }
        }
        return text.toString();
    }
}
