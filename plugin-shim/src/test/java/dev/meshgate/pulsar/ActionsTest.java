package dev.meshgate.pulsar;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshgate.proto.v1.Resource;
import java.util.List;
import org.apache.pulsar.common.naming.NamespaceName;
import org.apache.pulsar.common.naming.TopicName;
import org.apache.pulsar.common.policies.data.NamespaceOperation;
import org.apache.pulsar.common.policies.data.PolicyName;
import org.apache.pulsar.common.policies.data.PolicyOperation;
import org.apache.pulsar.common.policies.data.TopicOperation;
import org.junit.jupiter.api.Test;

class ActionsTest {

    @Test
    void actionNamesAreLowerCasedEnumConstants() {
        assertEquals("topic.produce", Actions.of("topic", TopicOperation.PRODUCE));
        assertEquals("topic.get_backlog_size", Actions.of("topic", TopicOperation.GET_BACKLOG_SIZE));
        assertEquals("namespace.create_topic", Actions.of("namespace", NamespaceOperation.CREATE_TOPIC));
        assertEquals("namespace_policy.retention.write",
                Actions.policy("namespace_policy", PolicyName.RETENTION, PolicyOperation.WRITE));
    }

    @Test
    void theConnectPathIsWhatProducerAndConsumerCreationAsk() {
        for (String action : List.of("topic.lookup", "topic.produce", "topic.consume", "topic.subscribe")) {
            assertTrue(Actions.onConnectPath(action), action);
        }
        for (String action : List.of("topic.get_stats", "namespace.get_topics", "superuser", "tenant.admin")) {
            assertFalse(Actions.onConnectPath(action), action);
        }
    }

    @Test
    void topicResourceCarriesTenantNamespaceAndFullName() {
        Resource resource = Actions.topic(TopicName.get("persistent://acme/payments/orders-partition-3"));
        assertEquals("acme", resource.getTenant());
        assertEquals("acme/payments", resource.getNamespace());
        assertEquals("persistent://acme/payments/orders-partition-3", resource.getTopic());
    }

    @Test
    void namespaceResource() {
        Resource resource = Actions.namespace(NamespaceName.get("acme/payments"));
        assertEquals("acme", resource.getTenant());
        assertEquals("acme/payments", resource.getNamespace());
        assertEquals("", resource.getTopic());
    }

    @Test
    void nullPartsBecomeEmptyInsteadOfThrowing() {
        // The broker passes a null tenant for LIST_TENANTS; protobuf setters would throw.
        assertEquals("", Actions.tenant(null).getTenant());
        assertEquals("", Actions.cluster(null, null).getBroker());
        assertEquals(Resource.getDefaultInstance(), Actions.topic(null));
        assertEquals(Resource.getDefaultInstance(), Actions.namespace(null));
    }
}
