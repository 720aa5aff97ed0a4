package dev.meshgate.pulsar;

import dev.meshgate.proto.v1.AuthorizeRequest;
import dev.meshgate.proto.v1.Decision;
import io.grpc.Deadline;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.TimeUnit;
import org.apache.pulsar.common.policies.data.TopicOperation;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Answers one authorization question: super-users short-circuit, then the revision-bound cache, then an
 * identical question already in flight, then the service. Anything but an explicit allow denies; errors
 * are never cached and never become a fresh allow (only a previous allow of the same question may be
 * repeated, with {@link FailMode#STALE_IF_ERROR}).
 *
 * <p>Two things keep round trips off the connect path. A question identical to one in flight (same
 * fields, same active revision) waits for that call's answer instead of making its own; questions asked
 * while the revision is unknown are never shared. And a {@code topic.lookup} that misses the cache asks
 * for {@code topic.produce} and {@code topic.consume} of the same topic in the same call, marked as
 * prefetches, because a client looks a topic up right before it creates a producer or consumer there;
 * those answers only go into the cache. What does go to the service is coalesced with the other questions
 * in flight into {@code AuthorizeBatch} calls; each question's budget counts from here, and within it a
 * busy or restarting service is asked again ({@link Retrier}) before "could not decide" becomes a deny.
 *
 * <p>Every answer the service did not decide in that call (super-user, empty role, cache, a shared call,
 * stale-if-error, a deny because the service could not decide) is noted in the {@link ServedLog} for the audit
 * trail; noting never waits and never changes the answer.
 */
final class Decider {

    private static final Logger LOG = LoggerFactory.getLogger(Decider.class);
    private static final String LOOKUP = Actions.of("topic", TopicOperation.LOOKUP);
    /** Asked alongside a lookup that misses the cache. */
    private static final List<String> FOLLOWERS =
            List.of(Actions.of("topic", TopicOperation.PRODUCE), Actions.of("topic", TopicOperation.CONSUME));

    /** Served to a super-user role without asking (the service's audit names it like its own). */
    private static final Decision SUPERUSER_ALLOW =
            Decision.newBuilder().setAllowed(true).setReasonCode("superuser").build();
    private static final Decision NO_ROLE_DENY =
            Decision.newBuilder().setAllowed(false).setReasonCode("no_role").build();
    private static final Decision UNPROVEN_DENY =
            Decision.newBuilder().setAllowed(false).setReasonCode("principal_crosses_kind").build();

    private static final Outcome SUPERUSER = new Outcome(true, DecisionReason.SUPERUSER, SUPERUSER_ALLOW,
            ServedBy.SHIM_SUPERUSER, null);
    private static final Outcome NO_ROLE = new Outcome(false, DecisionReason.NO_ROLE, NO_ROLE_DENY,
            ServedBy.SHIM_NO_ROLE, null);

    /**
     * An answer and why, shared with the questions that joined it: the decision served, how a question that joined
     * it was served ({@link ServedBy#SHIM_INFLIGHT} for a service answer), and, when the service could not decide,
     * why not (as {@link Undecided#why}; null otherwise).
     */
    record Outcome(boolean allowed, DecisionReason reason, Decision decision, ServedBy shared, String failure) {
    }

    private final MeshgateConfig config;
    private final Coalescer<List<AuthorizeRequest>, List<Decision>> service;
    private final Retrier retrier;
    private final DecisionCache cache;
    private final ShimMetrics metrics;
    private final ServedLog served;
    private final FailureLog failures = new FailureLog();
    private final ConcurrentMap<DecisionKey, CompletableFuture<Outcome>> inFlight = new ConcurrentHashMap<>();

    Decider(MeshgateConfig config, Coalescer<List<AuthorizeRequest>, List<Decision>> service, Retrier retrier,
            DecisionCache cache, ShimMetrics metrics, ServedLog served) {
        this.config = config;
        this.service = service;
        this.retrier = retrier;
        this.cache = cache;
        this.metrics = metrics;
        this.served = served;
    }

    CompletableFuture<Boolean> decide(AuthorizeRequest question) {
        return outcome(question).thenApply(Outcome::allowed);
    }

    /** {@code question} was refused before it could be asked ({@link ProvenRoles}): noted for the audit trail. */
    void refusedUnproven(AuthorizeRequest question) {
        served.served(DecisionKey.strip(question), question, ServedBy.SHIM_UNPROVEN_ROLE, UNPROVEN_DENY, "");
    }

    /** The answer to {@code question} and why; a {@link Outcome#failure()} when the service could not decide. */
    CompletableFuture<Outcome> outcome(AuthorizeRequest question) {
        long start = System.nanoTime();
        String role = question.getPrincipal();
        if (config.superUserRoles().contains(role)) {
            served.served(DecisionKey.strip(question), question, ServedBy.SHIM_SUPERUSER, SUPERUSER_ALLOW, "");
            return answer(SUPERUSER, "shortcut", start);
        }
        if (role.isEmpty()) {
            served.served(DecisionKey.strip(question), question, ServedBy.SHIM_NO_ROLE, NO_ROLE_DENY, "");
            return answer(NO_ROLE, "shortcut", start);
        }
        DecisionKey key = DecisionKey.of(question);
        Optional<Decision> cached = cache.get(key);
        if (cached.isPresent()) {
            served.served(key.question(), question, ServedBy.SHIM_CACHE, cached.get(), "");
            Decision answer = cached.get();
            return answer(new Outcome(answer.getAllowed(), DecisionReason.CACHED, answer, ServedBy.SHIM_CACHE, null),
                    "cache", start);
        }
        String revision = cache.activeRevision();
        return revision == null ? ask(question, key, start) : shareOrAsk(question, key, revision, start);
    }

    /**
     * Joins an identical question in flight, or asks and lets later ones join. Keyed by the active revision too: a
     * re-check after a policy change never joins a call made before it, whose answer may belong to the old policy.
     */
    private CompletableFuture<Outcome> shareOrAsk(AuthorizeRequest question, DecisionKey key, String revision,
                                                  long start) {
        DecisionKey flight = key.at(revision);
        CompletableFuture<Outcome> mine = new CompletableFuture<>();
        CompletableFuture<Outcome> earlier = inFlight.putIfAbsent(flight, mine);
        if (earlier != null) {
            return earlier.thenApply(outcome -> {
                metrics.decision(outcome.allowed(), outcome.reason(), "inflight", start);
                served.served(key.question(), question, outcome.shared(), outcome.decision(), "");
                return outcome;
            });
        }
        ask(question, key, start).whenComplete((outcome, error) -> {
            inFlight.remove(flight, mine);
            mine.complete(error == null ? outcome : failed(key, question, error, start, ""));
        });
        return mine;
    }

    private CompletableFuture<Outcome> ask(AuthorizeRequest question, DecisionKey key, long start) {
        try {
            List<AuthorizeRequest> asked = new ArrayList<>(1 + FOLLOWERS.size());
            asked.add(withRequestId(question.toBuilder()));
            asked.addAll(companions(question, key));
            // A retry asks the same question with the same request ids: the audit log shows one question.
            Deadline budget = Deadline.after(config.budgetMillis(question.getAction()), TimeUnit.MILLISECONDS);
            String requestId = asked.get(0).getRequestId();
            return retrier.call(budget, deadline -> service.submit(asked, deadline)).handle((decisions, error) -> {
                if (error != null) {
                    return failed(key, question, error, start, requestId);
                }
                for (int i = 1; i < asked.size(); i++) {
                    prefetched(key.follower(asked.get(i).getAction()), decisions.get(i));
                }
                return settle(key, decisions.get(0), start);
            });
        } catch (RuntimeException e) {
            return CompletableFuture.completedFuture(failed(key, question, e, start, ""));
        }
    }

    /**
     * What usually follows this lookup and is not cached yet: {@code topic.produce}, and {@code topic.consume}
     * asked without a subscription (its answer is kept only if the service says it holds for every
     * subscription name; a consumer's check names a subscription the lookup does not know).
     */
    private List<AuthorizeRequest> companions(AuthorizeRequest question, DecisionKey key) {
        if (!config.prefetchOnLookup() || !LOOKUP.equals(question.getAction())
                || question.getResource().getTopic().isEmpty()) {
            return List.of();
        }
        List<AuthorizeRequest> companions = new ArrayList<>(2);
        for (String action : FOLLOWERS) {
            if (!cache.has(key.follower(action))) {
                companions.add(withRequestId(question.toBuilder().setAction(action).clearSubscription()
                        .setPrefetch(true)));
            }
        }
        return companions;
    }

    private void prefetched(DecisionKey companion, Decision decision) {
        cache.put(companion, decision);
        metrics.prefetch(decision.getAllowed());
    }

    private static AuthorizeRequest withRequestId(AuthorizeRequest.Builder request) {
        return request.setRequestId(UUID.randomUUID().toString()).build();
    }

    /** The service answered: cached and given; the service audits it itself. */
    private Outcome settle(DecisionKey key, Decision decision, long start) {
        cache.put(key, decision);
        if (LOG.isDebugEnabled()) { // the arguments (boxing, a varargs array) cost even when DEBUG is off
            LOG.debug("meshgate: {} {} {} -> {} ({}, revision {})", key.question().getPrincipal(),
                    key.question().getAction(), Actions.describe(key.question().getResource()),
                    decision.getAllowed(), decision.getReasonCode(), decision.getRevision());
        }
        metrics.decision(decision.getAllowed(), DecisionReason.POLICY, "service", start);
        return new Outcome(decision.getAllowed(), DecisionReason.POLICY, decision, ServedBy.SHIM_INFLIGHT, null);
    }

    /** The service could not decide: stale-if-error may repeat an earlier allow, anything else denies. */
    private Outcome failed(DecisionKey key, AuthorizeRequest question, Throwable error, long start,
                           String requestId) {
        FailureReason failure = GrpcErrors.reason(error);
        metrics.error("authorize", failure);
        Optional<Decision> stale = config.failMode() == FailMode.STALE_IF_ERROR ? cache.staleAllow(key)
                : Optional.empty();
        if (stale.isPresent()) {
            failures.repeated(failure, GrpcErrors.describe(error), key.question().getAction() + " "
                    + Actions.describe(key.question().getResource()) + " for " + key.question().getPrincipal());
            metrics.decision(true, DecisionReason.STALE_IF_ERROR, "stale", start);
            served.served(key.question(), question, ServedBy.STALE_IF_ERROR, stale.get(), "");
            return new Outcome(true, DecisionReason.STALE_IF_ERROR, stale.get(), ServedBy.STALE_IF_ERROR, null);
        }
        String action = key.question().getAction();
        String why = Undecided.why(failure, error, config, config.budgetKey(action), config.budgetMillis(action));
        failures.denied(failure, why, action + " " + Actions.describe(key.question().getResource()) + " for "
                + key.question().getPrincipal() + " after "
                + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start) + " ms");
        DecisionReason reason = DecisionReason.of(failure);
        metrics.decision(false, reason, "error", start);
        Decision deny = Decision.newBuilder().setAllowed(false).setReasonCode(reason.label()).build();
        served.served(key.question(), question, ServedBy.SHIM_ERROR, deny, requestId);
        return new Outcome(false, reason, deny, ServedBy.SHIM_ERROR, why);
    }

    private CompletableFuture<Outcome> answer(Outcome outcome, String source, long start) {
        metrics.decision(outcome.allowed(), outcome.reason(), source, start);
        return CompletableFuture.completedFuture(outcome);
    }
}
