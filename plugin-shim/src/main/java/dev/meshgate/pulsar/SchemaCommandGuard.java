package dev.meshgate.pulsar;

import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;
import org.apache.pulsar.broker.authorization.AuthorizationService;
import org.apache.pulsar.common.api.proto.BaseCommand;
import org.apache.pulsar.common.api.proto.ServerError;
import org.apache.pulsar.common.intercept.InterceptException;
import org.apache.pulsar.common.naming.TopicName;
import org.apache.pulsar.common.policies.data.TopicOperation;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Authorizes the binary schema commands that Pulsar up to 4.0.13 and 4.2.4 hands to the schema registry
 * unchecked (CVE-2026-105926; fixed upstream in 4.0.14 and 4.2.5), with the upstream rule:
 * {@code CommandGetSchema} needs {@code topic.lookup}, {@code CommandGetOrCreateSchema} needs
 * {@code topic.produce}. The question goes to the broker's {@link AuthorizationService} exactly as the broker
 * asks it for a lookup or a producer (the connection's role, and also the original principal behind a proxy),
 * so it reaches the meshgate authorization provider like any other: super-users short-circuit, the decision
 * cache, sharing of identical calls in flight, and the service, which audits what it decides.
 *
 * <p>A broker interceptor is synchronous: the broker handles the command as soon as it returns, and skips it
 * (answering the client with the exception's error code) when it throws. An answer already made (a cache hit, a
 * super-user) is used at once; otherwise the connection's I/O thread waits for it, never longer than the
 * decision deadline ({@code meshgateDeadlineMillis}). Anything but an allow within that refuses the command
 * with {@code AuthorizationError}.
 */
final class SchemaCommandGuard {

    private static final Logger LOG = LoggerFactory.getLogger(SchemaCommandGuard.class);

    /** Whether {@code principals} may do {@code operation} on {@code topic}. */
    @FunctionalInterface
    interface TopicAuthorizer {
        CompletableFuture<Boolean> allow(TopicName topic, TopicOperation operation, ConnectionPrincipals principals);
    }

    /** The commands guarded, what each needs, and how it reads in logs, metrics and refusals. */
    private enum Guarded {
        GET_SCHEMA("GetSchema", TopicOperation.LOOKUP, "read the schema of"),
        GET_OR_CREATE_SCHEMA("GetOrCreateSchema", TopicOperation.PRODUCE, "register a schema on");

        final String command;
        final TopicOperation operation;
        final String verb;

        Guarded(String command, TopicOperation operation, String verb) {
            this.command = command;
            this.operation = operation;
            this.verb = verb;
        }

        static Guarded of(BaseCommand command) {
            switch (command.getType()) {
                case GET_SCHEMA:
                    return GET_SCHEMA;
                case GET_OR_CREATE_SCHEMA:
                    return GET_OR_CREATE_SCHEMA;
                default:
                    return null;
            }
        }

        String topic(BaseCommand command) {
            return this == GET_SCHEMA ? command.getGetSchema().getTopic() : command.getGetOrCreateSchema().getTopic();
        }

        String label() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** Why a command was refused; {@code cause} is set when no answer came. */
    private record Refusal(String reason, Throwable cause) {
    }

    private final TopicAuthorizer authorizer;
    private final long deadlineMillis;
    private final ShimMetrics metrics;

    SchemaCommandGuard(TopicAuthorizer authorizer, long deadlineMillis, ShimMetrics metrics) {
        this.authorizer = authorizer;
        this.deadlineMillis = deadlineMillis;
        this.metrics = metrics;
    }

    /**
     * Asks the broker's authorization service, with the arguments the broker's own topic checks use
     * ({@code ServerCnx.isTopicOperationAllowed}): it validates the original principal, and for a proxy role
     * asks about both principals.
     */
    static TopicAuthorizer broker(Supplier<AuthorizationService> service) {
        return (topic, operation, who) -> service.get().allowTopicOperationAsync(topic, operation,
                who.originalPrincipal(), who.role(), who.originalData() != null ? who.originalData() : who.data(),
                who.data());
    }

    /** True for the commands {@link #check} decides; cheap, for the interceptor's per-command path. */
    static boolean guards(BaseCommand command) {
        return Guarded.of(command) != null;
    }

    /** Returns when {@code command} may go on; throws the broker's refusal otherwise. */
    void check(BaseCommand command, ConnectionPrincipals principals) throws InterceptException {
        Guarded guarded = Guarded.of(command);
        if (guarded == null) {
            return;
        }
        String topic = guarded.topic(command);
        TopicName name = parse(guarded, topic);
        Refusal refusal = decide(guarded, name, principals);
        metrics.schemaCommand(guarded.label(), refusal == null);
        if (refusal == null) {
            return;
        }
        LOG.warn("meshgate: refused {} of {} for {}: {}", guarded.command, topic, who(principals), refusal.reason(),
                refusal.cause());
        throw new InterceptException(ServerError.AuthorizationError.getValue(),
                "meshgate: not authorized to " + guarded.verb + " " + topic + ": " + refusal.reason());
    }

    private static String who(ConnectionPrincipals principals) {
        String role = "role " + principals.role();
        return principals.originalPrincipal() == null ? role
                : role + " (original principal " + principals.originalPrincipal() + ")";
    }

    private TopicName parse(Guarded guarded, String topic) throws InterceptException {
        try {
            return TopicName.get(topic);
        } catch (RuntimeException e) {
            metrics.schemaCommand(guarded.label(), false);
            throw new InterceptException(ServerError.InvalidTopicName.getValue(),
                    "meshgate: " + guarded.command + " names an invalid topic '" + topic + "': " + e.getMessage());
        }
    }

    /** Null when allowed within the deadline; any other outcome refuses. */
    private Refusal decide(Guarded guarded, TopicName topic, ConnectionPrincipals principals) {
        String needed = Actions.of("topic", guarded.operation);
        try {
            Boolean allowed = authorizer.allow(topic, guarded.operation, principals)
                    .get(deadlineMillis, TimeUnit.MILLISECONDS);
            return Boolean.TRUE.equals(allowed) ? null : new Refusal(needed + " was not allowed", null);
        } catch (TimeoutException e) {
            return new Refusal("no decision on " + needed + " within " + deadlineMillis + " ms", null);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Refusal("interrupted while deciding " + needed, e);
        } catch (ExecutionException e) {
            return new Refusal("the decision on " + needed + " failed", e.getCause());
        } catch (RuntimeException e) {
            // Never let a bug here escape to the broker: it refuses, like any other error.
            return new Refusal("the decision on " + needed + " failed", e);
        }
    }
}
