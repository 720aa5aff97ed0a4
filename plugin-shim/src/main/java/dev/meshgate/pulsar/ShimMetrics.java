package dev.meshgate.pulsar;

import io.prometheus.client.CollectorRegistry;
import io.prometheus.client.Counter;
import io.prometheus.client.Gauge;
import io.prometheus.client.Histogram;
import java.util.Locale;

/**
 * The shim's Prometheus metrics. They live in the broker's default simpleclient registry, which the broker
 * serves on its own {@code /metrics} endpoint; the prometheus classes come from the broker (not shaded).
 */
final class ShimMetrics {

    /**
     * Sub-millisecond for cache hits, up to ten seconds for a service answer in a reconnect storm: the connect
     * deadline is sized from this histogram's p99 (docs/shim.md).
     */
    private static final double[] LATENCY_BUCKETS =
            {0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

    private static ShimMetrics shared;

    private final Counter decisions;
    private final Histogram latency;
    private final Counter errors;
    private final Counter authentications;
    private final Gauge revision;
    private final Gauge streamConnected;
    private final Counter revisionChanges;
    private final Counter sessionChecks;
    private final Counter prefetches;
    private final Histogram batchItems;
    private final Counter queueExpired;
    private final Counter schemaCommands;
    private final Counter retries;
    private final Counter calls;
    private final Histogram authenticationLatency;
    private final AuditCounters audit;
    private final CacheCollector cache;

    /** What becomes of the answers the shim serves itself, on their way to the audit trail ({@link ServedLog}). */
    private record AuditCounters(Counter reported, Counter dropped, Counter reportFailures) {

        static AuditCounters register(CollectorRegistry registry) {
            return new AuditCounters(counter(registry, "meshgate_shim_audit_reported_total", "Answers the shim"
                    + " served without the service deciding them in that call, reported for the audit trail"
                    + " (ReportServed), by served_by.", "served_by"),
                    counter(registry, "meshgate_shim_audit_dropped_total", "Served answers missing from the audit"
                    + " trail, by reason: buffer_full (meshgateAuditBufferEntries), send_failed (a failed report"
                    + " with no room left to keep it).", "reason"),
                    counter(registry, "meshgate_shim_audit_report_failures_total", "ReportServed calls that failed"
                    + " (their entries are kept for the next report while there is room)."));
        }
    }

    ShimMetrics(CollectorRegistry registry) {
        decisions = counter(registry, "meshgate_shim_decisions_total",
                "Authorization answers given to the broker, by result (allow/deny) and reason.", "result", "reason");
        latency = seconds(registry, "meshgate_shim_decision_seconds",
                "Time to answer an authorization question, by where the answer came from.", "source");
        errors = Counter.build("meshgate_shim_errors_total",
                "Calls to the meshgate service that failed, by call and failure reason.")
                .labelNames("call", "reason").register(registry);
        authentications = Counter.build("meshgate_shim_authentications_total",
                "Authentication attempts, by auth method and result (ok or a failure reason).")
                .labelNames("method", "result").register(registry);
        revision = Gauge.build("meshgate_shim_policy_revision_info",
                "The active policy revision (value 1); absent while the revision stream is down.")
                .labelNames("revision").register(registry);
        streamConnected = Gauge.build("meshgate_shim_revision_stream_connected",
                "1 while the WatchRevision stream is up (the decision cache is in use only then).")
                .register(registry);
        revisionChanges = Counter.build("meshgate_shim_revision_changes_total",
                "Policy revision changes seen on the WatchRevision stream.").register(registry);
        sessionChecks = counter(registry, "meshgate_shim_session_rechecks_total",
                "Connected producers and consumers re-authorized after a revision change, by kind.", "kind");
        prefetches = counter(registry, "meshgate_shim_prefetches_total",
                "Answers asked ahead of the broker (topic.produce alongside a topic.lookup), by result.", "result");
        batchItems = Histogram.build("meshgate_shim_batch_items",
                "Questions per call to the service after coalescing, by RPC (a lookup with its prefetches is one).")
                .labelNames("rpc").buckets(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024).register(registry);
        queueExpired = counter(registry, "meshgate_shim_queue_expired_total",
                "Questions whose deadline passed while they waited for a free call slot, by RPC.", "rpc");
        schemaCommands = counter(registry, "meshgate_shim_schema_commands_total",
                "Binary schema commands checked by the broker interceptor, by command and result (allow/deny).",
                "command", "result");
        retries = counter(registry, "meshgate_shim_retries_total", "Questions asked again because the service "
                + "could not decide (overloaded, unavailable, deadline exceeded), by call and reason.", "call",
                "reason");
        calls = calls(registry);
        authenticationLatency = seconds(registry, "meshgate_shim_authentication_seconds",
                "Time to answer an authentication (a connect), retries included, by auth method.", "method");
        audit = AuditCounters.register(registry);
        cache = new CacheCollector().register(registry);
    }

    private static Counter counter(CollectorRegistry registry, String name, String help, String... labels) {
        return Counter.build(name, help).labelNames(labels).register(registry);
    }

    private static Counter calls(CollectorRegistry registry) {
        return counter(registry, "meshgate_shim_calls_total", "Calls to the meshgate service, by RPC and transport"
                + " (grpc, or frames: the batch calls over a Unix target's frames socket, docs/frames.md); a frames"
                + " call its connection could not carry counts again as grpc.", "rpc", "transport");
    }

    private static Histogram seconds(CollectorRegistry registry, String name, String help, String label) {
        return Histogram.build(name, help).labelNames(label).buckets(LATENCY_BUCKETS).register(registry);
    }

    /** The instance registered in the broker's default registry (created once per JVM). */
    static synchronized ShimMetrics shared() {
        if (shared == null) {
            shared = new ShimMetrics(CollectorRegistry.defaultRegistry);
        }
        return shared;
    }

    void decision(boolean allowed, DecisionReason reason, String source, long startNanos) {
        decisions.labels(allowed ? "allow" : "deny", reason.label()).inc();
        latency.labels(source).observe((System.nanoTime() - startNanos) / 1e9);
    }

    void error(String call, FailureReason reason) {
        errors.labels(call, reason.name().toLowerCase(Locale.ROOT)).inc();
    }

    void authentication(String method, String result) {
        authentications.labels(method, result).inc();
    }

    void authenticationTime(String method, long startNanos) {
        authenticationLatency.labels(method).observe((System.nanoTime() - startNanos) / 1e9);
    }

    void retry(String call, FailureReason reason) {
        retries.labels(call, reason.name().toLowerCase(Locale.ROOT)).inc();
    }

    void call(String rpc, String transport) {
        calls.labels(rpc, transport).inc();
    }

    synchronized void revision(String active) {
        revision.clear();
        if (active != null && !active.isEmpty()) {
            revision.labels(active).set(1);
        }
    }

    void streamConnected(boolean connected) {
        streamConnected.set(connected ? 1 : 0);
    }

    void revisionChanged() {
        revisionChanges.inc();
    }

    void prefetch(boolean allowed) {
        prefetches.labels(allowed ? "allow" : "deny").inc();
    }

    void batchItems(String rpc, int items) {
        batchItems.labels(rpc).observe(items);
    }

    void queueExpired(String rpc) {
        queueExpired.labels(rpc).inc();
    }

    void schemaCommand(String command, boolean allowed) {
        schemaCommands.labels(command, allowed ? "allow" : "deny").inc();
    }

    void sessionRecheck(String kind) {
        sessionChecks.labels(kind).inc();
    }

    void auditReported(String servedBy, long answers) {
        audit.reported().labels(servedBy).inc(answers);
    }

    void auditDropped(String reason, long answers) {
        audit.dropped().labels(reason).inc(answers);
    }

    void auditReportFailed() {
        audit.reportFailures().inc();
    }

    void watchCache(DecisionCache decisionCache) {
        cache.watch(decisionCache);
    }
}
