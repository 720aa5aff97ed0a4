package dev.meshgate.pulsar;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshgate.proto.v1.AuthorizeRequest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import org.apache.pulsar.broker.authentication.AuthenticationDataSource;
import org.apache.pulsar.common.api.proto.BaseCommand;
import org.apache.pulsar.common.api.proto.ServerError;
import org.apache.pulsar.common.intercept.InterceptException;
import org.apache.pulsar.common.naming.TopicName;
import org.apache.pulsar.common.policies.data.TopicOperation;
import org.junit.jupiter.api.Test;

/** The broker interceptor's schema-command rule, with scripted answers and with a real decider. */
class SchemaCommandGuardTest extends DeciderFixture {

    static final String TOPIC = "persistent://acme/payments/orders";
    static final AuthenticationDataSource DATA = new AuthenticationDataSource() {
    };
    static final ConnectionPrincipals WRITER = new ConnectionPrincipals("writer", null, DATA, null);

    /** One question the guard asked. */
    record Asked(TopicName topic, TopicOperation operation, ConnectionPrincipals principals) {
    }

    final List<Asked> asked = new ArrayList<>();

    static BaseCommand getSchema(String topic) {
        BaseCommand command = new BaseCommand().setType(BaseCommand.Type.GET_SCHEMA);
        command.setGetSchema().setRequestId(1).setTopic(topic);
        return command;
    }

    static BaseCommand getOrCreateSchema(String topic) {
        BaseCommand command = new BaseCommand().setType(BaseCommand.Type.GET_OR_CREATE_SCHEMA);
        command.setGetOrCreateSchema().setRequestId(2).setTopic(topic);
        return command;
    }

    SchemaCommandGuard guard(long deadlineMillis, CompletableFuture<Boolean> answer) {
        return new SchemaCommandGuard((topic, operation, principals) -> {
            asked.add(new Asked(topic, operation, principals));
            return answer;
        }, deadlineMillis, metrics);
    }

    double schemaCommands(String command, String result) {
        Double value = registry.getSampleValue("meshgate_shim_schema_commands_total",
                new String[] {"command", "result"}, new String[] {command, result});
        return value == null ? 0 : value;
    }

    static InterceptException refused(SchemaCommandGuard guard, BaseCommand command) {
        InterceptException refusal = assertThrows(InterceptException.class, () -> guard.check(command, WRITER));
        assertEquals(ServerError.AuthorizationError.getValue(), refusal.getErrorCode(), refusal.getMessage());
        return refusal;
    }

    @Test
    void getSchemaNeedsLookupOfItsTopicForTheConnectionsPrincipals() throws InterceptException {
        guard(100, CompletableFuture.completedFuture(true)).check(getSchema(TOPIC), WRITER);
        assertEquals(List.of(new Asked(TopicName.get(TOPIC), TopicOperation.LOOKUP, WRITER)), asked);
        assertEquals(1, schemaCommands("get_schema", "allow"));
    }

    @Test
    void getOrCreateSchemaNeedsProduceAndADenyIsAnAuthorizationError() {
        InterceptException refusal = refused(guard(100, CompletableFuture.completedFuture(false)),
                getOrCreateSchema(TOPIC));
        assertEquals("meshgate: not authorized to register a schema on " + TOPIC + ": topic.produce was not allowed",
                refusal.getMessage());
        assertEquals(TopicOperation.PRODUCE, asked.get(0).operation());
        assertEquals(1, schemaCommands("get_or_create_schema", "deny"));
    }

    @Test
    void theTopicIsTheOneTheBrokerWillUse() throws InterceptException {
        guard(100, CompletableFuture.completedFuture(true)).check(getSchema("orders"), WRITER);
        assertEquals("persistent://public/default/orders", asked.get(0).topic().toString());
    }

    @Test
    void otherCommandsAreNeitherGuardedNorAsked() throws InterceptException {
        SchemaCommandGuard guard = guard(100, CompletableFuture.completedFuture(false));
        for (BaseCommand.Type type : List.of(BaseCommand.Type.LOOKUP, BaseCommand.Type.PRODUCER,
                BaseCommand.Type.SEND, BaseCommand.Type.SUBSCRIBE, BaseCommand.Type.GET_SCHEMA_RESPONSE,
                BaseCommand.Type.GET_OR_CREATE_SCHEMA_RESPONSE)) {
            BaseCommand command = new BaseCommand().setType(type);
            assertFalse(SchemaCommandGuard.guards(command), type.name());
            guard.check(command, WRITER);
        }
        assertTrue(asked.isEmpty());
        assertTrue(SchemaCommandGuard.guards(getSchema(TOPIC)));
        assertTrue(SchemaCommandGuard.guards(getOrCreateSchema(TOPIC)));
    }

    @Test
    void aDecisionNotMadeWithinTheDeadlineRefusesWithoutWaitingLonger() {
        long start = System.nanoTime();
        InterceptException refusal = refused(guard(50, new CompletableFuture<>()), getSchema(TOPIC));
        Duration waited = Duration.ofNanos(System.nanoTime() - start);
        assertTrue(waited.toMillis() >= 50 && waited.toMillis() < 1_000, waited.toString());
        assertTrue(refusal.getMessage().endsWith("no decision on topic.lookup within 50 ms"), refusal.getMessage());
    }

    @Test
    void errorsAndNonAnswersRefuse() {
        refused(guard(100, CompletableFuture.failedFuture(new IllegalStateException("boom"))), getSchema(TOPIC));
        refused(guard(100, CompletableFuture.completedFuture(null)), getSchema(TOPIC));
        SchemaCommandGuard throwing = new SchemaCommandGuard((topic, operation, principals) -> {
            throw new IllegalStateException("a bug");
        }, 100, metrics);
        assertTrue(refused(throwing, getOrCreateSchema(TOPIC)).getMessage()
                .endsWith("the decision on topic.produce failed"));
        assertEquals(2, schemaCommands("get_schema", "deny"));
    }

    @Test
    void anInterruptedWaitRefusesAndKeepsTheInterrupt() {
        Thread.currentThread().interrupt();
        try {
            refused(guard(60_000, new CompletableFuture<>()), getSchema(TOPIC));
            assertTrue(Thread.currentThread().isInterrupted());
        } finally {
            Thread.interrupted();
        }
    }

    @Test
    void anInvalidTopicIsRefusedAsSuchWithoutAsking() {
        SchemaCommandGuard guard = guard(100, CompletableFuture.completedFuture(true));
        InterceptException refusal = assertThrows(InterceptException.class,
                () -> guard.check(getSchema("persistent://acme"), WRITER));
        assertEquals(ServerError.InvalidTopicName.getValue(), refusal.getErrorCode());
        assertTrue(refusal.getMessage().startsWith("meshgate: GetSchema names an invalid topic 'persistent://acme'"),
                refusal.getMessage());
        assertTrue(asked.isEmpty());
    }

    // --- with the shim's decider: a cached answer needs no call and no wait; a slow service is bounded ---

    SchemaCommandGuard overDecider(Decider decider, long deadlineMillis) {
        return new SchemaCommandGuard((topic, operation, principals) -> decider.decide(AuthorizeRequest.newBuilder()
                .setPrincipal(principals.role()).setAction(Actions.of("topic", operation))
                .setResource(Actions.topic(topic)).build()), deadlineMillis, metrics);
    }

    @Test
    void aCachedAnswerNeedsNoCall() {
        DecisionCache cache = activeCache(DecisionCacheTest.CONFIG, "r1");
        service.answer(false, "r1");
        SchemaCommandGuard guard = overDecider(decider(DecisionCacheTest.CONFIG, cache), 60_000);
        refused(guard, getOrCreateSchema(TOPIC));
        long start = System.nanoTime();
        refused(guard, getOrCreateSchema(TOPIC));
        assertTrue(Duration.ofNanos(System.nanoTime() - start).toMillis() < 1_000);
        assertEquals(1, service.requests.size(), "the second command was answered from the cache");
        assertEquals(1, decisions("deny", "cached"));
    }

    @Test
    void aSlowServiceIsRefusedWithinTheDeadline() {
        DecisionCache cache = activeCache(DecisionCacheTest.CONFIG, "r1");
        CompletableFuture<?> held = service.hold();
        long start = System.nanoTime();
        InterceptException refusal = refused(overDecider(decider(DecisionCacheTest.CONFIG, cache), 50),
                getSchema(TOPIC));
        assertTrue(Duration.ofNanos(System.nanoTime() - start).toMillis() < 1_000);
        assertTrue(refusal.getMessage().contains("topic.lookup"), refusal.getMessage());
        held.cancel(true);
    }

    @Test
    void superUsersAreAllowedWithoutACall() {
        MeshgateConfig supers = new MeshgateConfig(List.of("a:1"), 100, 100, 100, 10, 10, FailMode.DENY, 10,
                TlsFiles.NONE, Set.of("broker"), true, 4, 128, 20, 1000, 10_000, FramesMode.AUTO);
        SchemaCommandGuard guard = overDecider(decider(supers, new DecisionCache(supers)), 100);
        assertDoesNotThrow(() -> guard.check(getOrCreateSchema(TOPIC),
                new ConnectionPrincipals("broker", null, DATA, null)));
        assertTrue(service.requests.isEmpty());
    }
}
