package dev.meshgate.pulsar;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.stats.CacheStats;
import java.time.Duration;
import java.util.Optional;

/**
 * Service answers, valid only while their policy revision is the active one.
 *
 * <p>Entries are keyed by the revision the service reported, and looked up with the revision the
 * WatchRevision stream says is active; a new revision empties the cache as well. While the stream is
 * down the active revision is unknown, so nothing is served from the cache and nothing is stored: an
 * answer can never outlive the policy that produced it. Only answers are cached, never errors.
 *
 * <p>The optional stale-if-error store remembers allows (never denies) of the last known revision for
 * a bounded window; it is consulted only when the service cannot answer.
 */
final class DecisionCache {

    private final Cache<DecisionKey, Boolean> fresh;
    private final Cache<DecisionKey, String> staleAllows;
    private volatile String active;
    private volatile String lastKnown = "";

    DecisionCache(MeshgateConfig config) {
        this.fresh = config.cacheMaxEntries() == 0 ? null : Caffeine.newBuilder()
                .maximumSize(config.cacheMaxEntries())
                .expireAfterWrite(Duration.ofSeconds(config.cacheTtlSeconds()))
                .recordStats()
                .build();
        this.staleAllows = config.failMode() != FailMode.STALE_IF_ERROR ? null : Caffeine.newBuilder()
                .maximumSize(Math.max(1, config.cacheMaxEntries()))
                .expireAfterWrite(Duration.ofSeconds(config.staleIfErrorSeconds()))
                .build();
    }

    /** A cached answer for the active revision, if there is one. */
    Optional<Boolean> get(DecisionKey key) {
        String revision = active;
        if (fresh == null || revision == null) {
            return Optional.empty();
        }
        return Optional.ofNullable(fresh.getIfPresent(key.at(revision)));
    }

    /** Stores a service answer made under {@code revision}; ignored unless that revision is the active one. */
    void put(DecisionKey key, String revision, boolean allowed) {
        if (revision.isEmpty()) {
            return;
        }
        if (fresh != null && revision.equals(active)) {
            fresh.put(key.at(revision), allowed);
        }
        if (staleAllows != null && allowed && revision.equals(lastKnown)) {
            staleAllows.put(key, revision);
        }
    }

    /** True when the service allowed exactly this question under the last known revision, within the window. */
    boolean staleAllow(DecisionKey key) {
        if (staleAllows == null) {
            return false;
        }
        String revision = staleAllows.getIfPresent(key);
        return revision != null && revision.equals(lastKnown);
    }

    /** The stream reports {@code revision} as active; a change drops everything older. */
    synchronized void activate(String revision) {
        if (revision.isEmpty()) {
            suspend();
            return;
        }
        if (!revision.equals(lastKnown)) {
            lastKnown = revision;
            invalidate(true);
        }
        active = revision;
    }

    /** The stream is down: the active revision is unknown until it reconnects. */
    synchronized void suspend() {
        active = null;
        invalidate(false);
    }

    private void invalidate(boolean staleToo) {
        if (fresh != null) {
            fresh.invalidateAll();
        }
        if (staleToo && staleAllows != null) {
            staleAllows.invalidateAll();
        }
    }

    String activeRevision() {
        return active;
    }

    long size() {
        return fresh == null ? 0 : fresh.estimatedSize();
    }

    CacheStats stats() {
        return fresh == null ? CacheStats.empty() : fresh.stats();
    }
}
