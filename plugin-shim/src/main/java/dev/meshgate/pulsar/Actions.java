package dev.meshgate.pulsar;

import dev.meshgate.proto.v1.Resource;
import java.util.Locale;
import java.util.Set;
import org.apache.pulsar.common.naming.NamespaceName;
import org.apache.pulsar.common.naming.TopicName;
import org.apache.pulsar.common.policies.data.TopicOperation;

/**
 * Builds the action names and resources of the meshgate policy language from Pulsar's enums.
 * The names are the lower-cased enum constants, so an operation Pulsar adds later still reaches the
 * service (which denies names it does not know) instead of failing in the broker.
 */
final class Actions {

    static final String SUPERUSER = "superuser";
    static final String TENANT_ADMIN = "tenant.admin";
    /** What a client's producer or consumer creation asks; a reconnect storm asks all of them at once. */
    private static final Set<String> CONNECT_PATH = Set.of(of("topic", TopicOperation.LOOKUP),
            of("topic", TopicOperation.PRODUCE), of("topic", TopicOperation.CONSUME),
            of("topic", TopicOperation.SUBSCRIBE));

    private Actions() {
    }

    static String of(String family, Enum<?> operation) {
        return family + "." + operation.name().toLowerCase(Locale.ROOT);
    }

    static boolean onConnectPath(String action) {
        return CONNECT_PATH.contains(action);
    }

    static String policy(String family, Enum<?> policy, Enum<?> operation) {
        return family + "." + policy.name().toLowerCase(Locale.ROOT) + "." + operation.name().toLowerCase(Locale.ROOT);
    }

    // The broker passes null for parts that do not apply (e.g. the tenant of LIST_TENANTS); proto
    // setters reject null, so every part goes through orEmpty.

    static Resource topic(TopicName topic) {
        if (topic == null) {
            return Resource.getDefaultInstance();
        }
        return Resource.newBuilder()
                .setTenant(orEmpty(topic.getTenant()))
                .setNamespace(orEmpty(topic.getNamespace()))
                .setTopic(topic.toString())
                .build();
    }

    static Resource namespace(NamespaceName namespace) {
        if (namespace == null) {
            return Resource.getDefaultInstance();
        }
        return Resource.newBuilder()
                .setTenant(orEmpty(namespace.getTenant()))
                .setNamespace(namespace.toString())
                .build();
    }

    static Resource tenant(String tenant) {
        return Resource.newBuilder().setTenant(orEmpty(tenant)).build();
    }

    static Resource cluster(String cluster, String broker) {
        return Resource.newBuilder().setCluster(orEmpty(cluster)).setBroker(orEmpty(broker)).build();
    }

    static String orEmpty(String value) {
        return value == null ? "" : value;
    }

    /** The most specific part of a resource, for log lines. */
    static String describe(Resource resource) {
        if (!resource.getTopic().isEmpty()) {
            return resource.getTopic();
        }
        if (!resource.getNamespace().isEmpty()) {
            return resource.getNamespace();
        }
        return resource.getTenant().isEmpty() ? resource.getCluster() : resource.getTenant();
    }
}
