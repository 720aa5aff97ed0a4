package dev.meshgate.pulsar;

import javax.servlet.ServletRequest;
import javax.servlet.ServletResponse;
import org.apache.pulsar.broker.PulsarService;
import org.apache.pulsar.broker.ServiceConfiguration;
import org.apache.pulsar.broker.intercept.BrokerInterceptor;
import org.apache.pulsar.broker.service.BrokerService;
import org.apache.pulsar.broker.service.Consumer;
import org.apache.pulsar.broker.service.Producer;
import org.apache.pulsar.broker.service.ServerCnx;
import org.apache.pulsar.broker.service.Subscription;
import org.apache.pulsar.common.api.proto.BaseCommand;
import org.apache.pulsar.common.api.proto.ServerError;
import org.apache.pulsar.common.intercept.InterceptException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The shim's broker interceptor, for what the authorization provider alone cannot do.
 *
 * <p>Revokes live sessions when the policy changes. Pulsar authorizes a producer or consumer only when it
 * is created, and re-checks it only when Pulsar's own stored policies change. This broker interceptor is
 * the one supported plugin point that is handed the {@link PulsarService}: on every new policy revision
 * it asks each connected producer and consumer to re-check its permission
 * ({@code Producer/Consumer.checkPermissionsAsync()}, the broker's own re-check), which goes through the
 * meshgate authorization provider (whose cache the new revision has already emptied) and disconnects
 * those now denied.
 *
 * <p>Authorizes the binary schema commands the broker does not check itself ({@link SchemaCommandGuard}):
 * an interceptor sees every command before the broker handles it, and may refuse it.
 *
 * <p>Loaded through {@code brokerInterceptors=meshgate-session-revoker} and a one-file .nar in
 * {@code brokerInterceptorsDirectory}; the class itself comes from the shim jar on the broker classpath
 * (the .nar class loader asks its parent first), so it shares the providers' runtime.
 */
public class MeshgateSessionRevoker implements BrokerInterceptor {

    private static final Logger LOG = LoggerFactory.getLogger(MeshgateSessionRevoker.class);

    private MeshgateRuntime runtime;
    private RevisionWatcher.Listener listener;
    private volatile SchemaCommandGuard schemaGuard;

    @Override
    public void initialize(PulsarService pulsar) throws Exception {
        ServiceConfiguration conf = pulsar.getConfiguration();
        if (!conf.isAuthorizationEnabled()) {
            LOG.warn("meshgate: authorizationEnabled=false, so there are no sessions to revoke and no commands to"
                    + " authorize; interceptor idle");
            return;
        }
        MeshgateConfig config;
        try {
            config = MeshgateConfig.from(conf);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("meshgate: invalid broker configuration: " + e.getMessage(), e);
        }
        runtime = MeshgateRuntime.acquire(config);
        listener = (previous, current) -> recheck(pulsar.getBrokerService(), current);
        runtime.watcher().addListener(listener);
        schemaGuard = new SchemaCommandGuard(
                SchemaCommandGuard.broker(() -> pulsar.getBrokerService().getAuthorizationService()),
                config.deadlineMillis(), runtime.metrics());
        LOG.info("meshgate: connected producers and consumers are re-authorized on every policy revision;"
                + " binary GetSchema needs topic.lookup and GetOrCreateSchema topic.produce");
    }

    private void recheck(BrokerService brokers, String revision) {
        int[] counts = new int[2];
        brokers.forEachTopic(topic -> {
            for (Producer producer : topic.getProducers().values()) {
                counts[0]++;
                runtime.metrics().sessionRecheck("producer");
                producer.checkPermissionsAsync();
            }
            for (Subscription subscription : topic.getSubscriptions().values()) {
                for (Consumer consumer : subscription.getConsumers()) {
                    counts[1]++;
                    runtime.metrics().sessionRecheck("consumer");
                    consumer.checkPermissionsAsync();
                }
            }
        });
        LOG.info("meshgate: policy revision {}: re-checking {} producers and {} consumers", revision, counts[0],
                counts[1]);
    }

    @Override
    public void onPulsarCommand(BaseCommand command, ServerCnx cnx) throws InterceptException {
        // Producers, consumers and lookups are authorized by the broker itself; only the schema commands here.
        if (schemaGuard == null || !SchemaCommandGuard.guards(command)) {
            return;
        }
        try {
            schemaGuard.check(command, ConnectionPrincipals.of(cnx));
        } catch (RuntimeException e) {
            LOG.error("meshgate: refusing {} on {}: could not check it", command.getType(), cnx, e);
            throw new InterceptException(ServerError.AuthorizationError.getValue(),
                    "meshgate: the authorization check failed; refused");
        }
    }

    @Override
    public void onConnectionClosed(ServerCnx cnx) {
        // Nothing is kept per connection.
    }

    @Override
    public void onWebserviceRequest(ServletRequest request) {
        // HTTP requests are authenticated and authorized one by one; there is no session to revoke.
    }

    @Override
    public void onWebserviceResponse(ServletRequest request, ServletResponse response) {
        // See onWebserviceRequest.
    }

    @Override
    public void close() {
        // The schema guard stays: a command that arrives while the broker shuts down is still checked (and
        // refused once the providers' runtime is gone), never waved through.
        if (runtime != null) {
            runtime.watcher().removeListener(listener);
            MeshgateRuntime.release(runtime);
            runtime = null;
        }
    }
}
