package dev.meshgate.pulsar;

import java.io.Closeable;
import java.io.IOException;
import java.util.HashMap;
import java.util.Map;

/**
 * What the broker's plugins share for one configuration: the client, the decision cache, the revision
 * watcher, the decider, the reporter of the answers the shim serves itself and the authenticator (so connects
 * of every auth method coalesce together). The broker builds its authentication providers, its authorization
 * provider and the session revoker separately; they acquire the same runtime, reference-counted, so the
 * channels close with the last of them.
 */
final class MeshgateRuntime implements Closeable {

    private static final Map<MeshgateConfig, MeshgateRuntime> RUNNING = new HashMap<>();

    private final MeshgateConfig config;
    private final MeshgateClient client;
    private final RevisionWatcher watcher;
    private final Decider decider;
    private final Authenticator authenticator;
    private final ShimMetrics metrics;
    private final ServedReporter reporter;
    private int references;

    private MeshgateRuntime(MeshgateConfig config, ShimMetrics metrics) throws IOException {
        this(config, new MeshgateClient(config, metrics), metrics);
        watcher.start();
        reporter.start();
    }

    /** Over a given client, without following revisions yet (tests: a client on in-process channels). */
    MeshgateRuntime(MeshgateConfig config, MeshgateClient client, ShimMetrics metrics) {
        this.config = config;
        this.metrics = metrics;
        this.client = client;
        DecisionCache cache = new DecisionCache(config);
        metrics.watchCache(cache);
        this.watcher = new RevisionWatcher(client, cache, metrics);
        ServedLog served = new ServedLog(config.auditBufferEntries(), System::currentTimeMillis, metrics);
        this.reporter = new ServedReporter(served, client, config.auditReportMillis(), metrics);
        this.decider = new Decider(config,
                AuthorizeBatches.coalescer(client, config.coalescing(), client.timer(), metrics),
                new Retrier("authorize", client.timer(), metrics), cache, metrics, served);
        this.authenticator = new Authenticator(client, config, client.timer(), metrics);
    }

    static synchronized MeshgateRuntime acquire(MeshgateConfig config) throws IOException {
        MeshgateRuntime runtime = RUNNING.get(config);
        if (runtime == null) {
            runtime = new MeshgateRuntime(config, ShimMetrics.shared());
            RUNNING.put(config, runtime);
        }
        runtime.references++;
        return runtime;
    }

    static synchronized void release(MeshgateRuntime runtime) {
        if (runtime == null || --runtime.references > 0) {
            return;
        }
        RUNNING.remove(runtime.config);
        runtime.close();
    }

    MeshgateConfig config() {
        return config;
    }

    MeshgateClient client() {
        return client;
    }

    RevisionWatcher watcher() {
        return watcher;
    }

    Decider decider() {
        return decider;
    }

    Authenticator authenticator() {
        return authenticator;
    }

    ShimMetrics metrics() {
        return metrics;
    }

    @Override
    public void close() {
        watcher.close();
        reporter.close();  // a last report over the client, before it closes
        client.close();
    }
}
