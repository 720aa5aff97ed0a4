package dev.meshgate.pulsar;

import com.github.benmanes.caffeine.cache.stats.CacheStats;
import io.prometheus.client.Collector;
import io.prometheus.client.CounterMetricFamily;
import io.prometheus.client.GaugeMetricFamily;
import java.util.List;

/** Exports the decision cache's Caffeine statistics at scrape time. */
final class CacheCollector extends Collector {

    private volatile DecisionCache cache;

    void watch(DecisionCache decisionCache) {
        this.cache = decisionCache;
    }

    @Override
    public List<MetricFamilySamples> collect() {
        DecisionCache current = cache;
        if (current == null) {
            return List.of();
        }
        CacheStats stats = current.stats();
        return List.of(
                new CounterMetricFamily("meshgate_shim_cache_hits_total",
                        "Decision cache lookups answered from the cache.", stats.hitCount()),
                new CounterMetricFamily("meshgate_shim_cache_misses_total",
                        "Decision cache lookups that went to the service.", stats.missCount()),
                new CounterMetricFamily("meshgate_shim_cache_evictions_total",
                        "Decision cache entries evicted by size or age.", stats.evictionCount()),
                new GaugeMetricFamily("meshgate_shim_cache_hit_ratio",
                        "Share of decision cache lookups answered from the cache.", stats.hitRate()),
                new GaugeMetricFamily("meshgate_shim_cache_entries",
                        "Decisions currently cached.", current.size()));
    }
}
