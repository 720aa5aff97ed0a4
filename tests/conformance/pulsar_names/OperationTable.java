import java.util.ArrayList;
import java.util.List;
import org.apache.pulsar.common.policies.data.BrokerOperation;
import org.apache.pulsar.common.policies.data.ClusterOperation;
import org.apache.pulsar.common.policies.data.NamespaceOperation;
import org.apache.pulsar.common.policies.data.PolicyName;
import org.apache.pulsar.common.policies.data.PolicyOperation;
import org.apache.pulsar.common.policies.data.TenantOperation;
import org.apache.pulsar.common.policies.data.TopicOperation;

/**
 * Prints the constants of every enum Pulsar's broker asks its authorization plugin about, for meshgate's
 * checked-in table (tests/conformance/pulsar_names/pulsar_operations.json). Run on a broker classpath:
 * {@code java -cp "$(cat .cache/broker/4.0.7/classpath.txt)" OperationTable.java}.
 *
 * <p>Output: one JSON object, enum simple name to its constant names in declaration order.
 */
public final class OperationTable {

    private OperationTable() {
    }

    public static void main(String[] args) {
        Class<?>[] enums = {
            TopicOperation.class, NamespaceOperation.class, TenantOperation.class, PolicyName.class,
            PolicyOperation.class, BrokerOperation.class, ClusterOperation.class,
        };
        List<String> entries = new ArrayList<>();
        for (Class<?> type : enums) {
            List<String> names = new ArrayList<>();
            for (Object constant : type.getEnumConstants()) {
                names.add("\"" + ((Enum<?>) constant).name() + "\"");
            }
            entries.add("\"" + type.getSimpleName() + "\": [" + String.join(", ", names) + "]");
        }
        System.out.println("{" + String.join(", ", entries) + "}");
    }
}
