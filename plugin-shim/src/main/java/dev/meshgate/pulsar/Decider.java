package dev.meshgate.pulsar;

import dev.meshgate.proto.v1.AuthorizeRequest;
import dev.meshgate.proto.v1.AuthorizeResponse;
import dev.meshgate.proto.v1.Decision;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Answers one authorization question: super-users short-circuit, then the revision-bound cache, then the
 * service. Anything but an explicit allow denies; errors are never cached and never become a fresh allow
 * (only a previous allow of the same question may be repeated, with {@link FailMode#STALE_IF_ERROR}).
 */
final class Decider {

    private static final Logger LOG = LoggerFactory.getLogger(Decider.class);

    private final MeshgateConfig config;
    private final AuthorizeCall service;
    private final DecisionCache cache;
    private final ShimMetrics metrics;

    Decider(MeshgateConfig config, AuthorizeCall service, DecisionCache cache, ShimMetrics metrics) {
        this.config = config;
        this.service = service;
        this.cache = cache;
        this.metrics = metrics;
    }

    CompletableFuture<Boolean> decide(AuthorizeRequest question) {
        long start = System.nanoTime();
        String role = question.getPrincipal();
        if (config.superUserRoles().contains(role)) {
            return answer(true, DecisionReason.SUPERUSER, "shortcut", start);
        }
        if (role.isEmpty()) {
            return answer(false, DecisionReason.NO_ROLE, "shortcut", start);
        }
        DecisionKey key = DecisionKey.of(question);
        Optional<Boolean> cached = cache.get(key);
        if (cached.isPresent()) {
            return answer(cached.get(), DecisionReason.CACHED, "cache", start);
        }
        try {
            AuthorizeRequest request = question.toBuilder().setRequestId(UUID.randomUUID().toString()).build();
            return service.authorize(request).handle((response, error) -> settle(key, response, error, start));
        } catch (RuntimeException e) {
            return CompletableFuture.completedFuture(settle(key, null, e, start));
        }
    }

    private boolean settle(DecisionKey key, AuthorizeResponse response, Throwable error, long start) {
        if (error == null) {
            Decision decision = response.getDecision();
            cache.put(key, decision.getRevision(), decision.getAllowed());
            LOG.debug("meshgate: {} {} {} -> {} ({}, revision {})", key.question().getPrincipal(),
                    key.question().getAction(), Actions.describe(key.question().getResource()),
                    decision.getAllowed(), decision.getReasonCode(), decision.getRevision());
            metrics.decision(decision.getAllowed(), DecisionReason.POLICY, "service", start);
            return decision.getAllowed();
        }
        FailureReason failure = GrpcErrors.reason(error);
        metrics.error("authorize", failure);
        if (config.failMode() == FailMode.STALE_IF_ERROR && cache.staleAllow(key)) {
            LOG.warn("meshgate: repeating an earlier allow of {} {} for {} (stale-if-error): {}",
                    key.question().getAction(), Actions.describe(key.question().getResource()),
                    key.question().getPrincipal(), GrpcErrors.describe(error));
            metrics.decision(true, DecisionReason.STALE_IF_ERROR, "stale", start);
            return true;
        }
        LOG.warn("meshgate: denying {} {} for {}: {}", key.question().getAction(),
                Actions.describe(key.question().getResource()), key.question().getPrincipal(),
                GrpcErrors.describe(error));
        metrics.decision(false, DecisionReason.of(failure), "error", start);
        return false;
    }

    private CompletableFuture<Boolean> answer(boolean allowed, DecisionReason reason, String source, long start) {
        metrics.decision(allowed, reason, source, start);
        return CompletableFuture.completedFuture(allowed);
    }
}
