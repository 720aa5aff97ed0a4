package dev.meshgate.pulsar;

import dev.meshgate.proto.v1.AuthorizeRequest;
import io.prometheus.client.CollectorRegistry;

/** What the Decider tests share: a scripted service, a private metrics registry and a few questions. */
abstract class DeciderFixture {

    final CollectorRegistry registry = new CollectorRegistry();
    final ShimMetrics metrics = new ShimMetrics(registry);
    final FakeAuthorizeService service = new FakeAuthorizeService();

    Decider decider(MeshgateConfig config, DecisionCache cache) {
        return new Decider(config, service, cache, metrics);
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
