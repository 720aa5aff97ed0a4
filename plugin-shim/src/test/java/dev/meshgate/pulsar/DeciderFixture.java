package dev.meshgate.pulsar;

import dev.meshgate.proto.v1.AuthorizeRequest;
import io.prometheus.client.CollectorRegistry;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;

/** What the Decider tests share: a scripted service, a private metrics registry and a few questions. */
abstract class DeciderFixture {

    final CollectorRegistry registry = new CollectorRegistry();
    final ShimMetrics metrics = new ShimMetrics(registry);
    final FakeAuthorizeService service = new FakeAuthorizeService();
    final ScheduledThreadPoolExecutor timer = new ScheduledThreadPoolExecutor(1, Daemons.named("test-timer"));
    /** What the deciders note for the audit trail; its clock is {@link #now}. */
    final AtomicLong now = new AtomicLong(1_000);
    final ServedLog served = new ServedLog(1000, now::get, metrics);

    @AfterEach
    void stopTimer() {
        timer.shutdownNow();
    }

    Decider decider(MeshgateConfig config, DecisionCache cache) {
        return decider(config, cache, service);
    }

    /** A decider whose questions go, coalesced as in the broker, to {@code call}. */
    Decider decider(MeshgateConfig config, DecisionCache cache, AuthorizeCall call) {
        return new Decider(config, AuthorizeBatches.coalescer(call, config.coalescing(), timer, metrics),
                new Retrier("authorize", timer, metrics), cache, metrics, served);
    }

    /** A cache following revision {@code revision}, as after the WatchRevision stream reported it. */
    static DecisionCache activeCache(MeshgateConfig config, String revision) {
        DecisionCache cache = new DecisionCache(config);
        cache.activate(revision);
        return cache;
    }

    static AuthorizeRequest question(String principal) {
        return DecisionCacheTest.question(principal, "billing");
    }

    double decisions(String result, String reason) {
        Double value = registry.getSampleValue("meshgate_shim_decisions_total", new String[] {"result", "reason"},
                new String[] {result, reason});
        return value == null ? 0 : value;
    }
}
