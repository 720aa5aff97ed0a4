package dev.meshgate.pulsar;

import io.grpc.Deadline;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * Asks the service again, within one question's budget, when it could not decide. Pulsar turns a failed
 * authorization into an {@code AuthorizationError}, which no client retries (docs/shim.md, "What clients
 * see"), so "could not decide" must not become the answer while a busy but healthy service would still give
 * one. Only the service's answer ever completes the question: a retry asks the same question again, it never
 * allows anything by itself.
 *
 * <ul>
 *   <li>RESOURCE_EXHAUSTED (the service shed the call) and UNAVAILABLE: again after a jittered backoff that
 *       doubles from {@link #FIRST_BACKOFF_MILLIS} to {@link #MAX_BACKOFF_MILLIS}, while the budget lasts;</li>
 *   <li>DEADLINE_EXCEEDED: once, at once, with what is left of the budget. So that something is left, an
 *       attempt may use only {@link #SHARE_NUMERATOR}/{@link #SHARE_DENOMINATOR} of the remaining budget until
 *       that one retry is spent;</li>
 *   <li>anything else (a malformed request, a bug in the shim): no retry.</li>
 * </ul>
 * At most {@link #MAX_ATTEMPTS} attempts; the caller gets the last attempt's answer or error.
 */
final class Retrier {

    /**
     * About 2.5-3.5 s of backoff: a budget larger than the default buys patience with a slow service (answers
     * that come late), not more calls to a saturated one.
     */
    static final int MAX_ATTEMPTS = 16;
    static final long FIRST_BACKOFF_MILLIS = 10;
    static final long MAX_BACKOFF_MILLIS = 320;
    /** No attempt starts with less than this left: it could not finish. */
    static final long MIN_ATTEMPT_MILLIS = 5;
    static final int SHARE_NUMERATOR = 3;
    static final int SHARE_DENOMINATOR = 4;

    private final String call;
    private final ScheduledExecutorService timer;
    private final ShimMetrics metrics;

    /** {@code call}: the metric label (authorize, authenticate); {@code timer}: where backoffs wait. */
    Retrier(String call, ScheduledExecutorService timer, ShimMetrics metrics) {
        this.call = call;
        this.timer = timer;
        this.metrics = metrics;
    }

    /** Runs {@code attempt} with each attempt's deadline until it answers or the rules above give up. */
    <T> CompletableFuture<T> call(Deadline budget, Function<Deadline, CompletableFuture<T>> attempt) {
        Run<T> run = new Run<>(budget, attempt);
        run.next();
        return run.result;
    }

    /** One question's attempts; used by one attempt at a time, so it needs no lock. */
    private final class Run<T> {
        final Deadline budget;
        final Function<Deadline, CompletableFuture<T>> attempt;
        final CompletableFuture<T> result = new CompletableFuture<>();
        int attempts;
        boolean deadlineRetried;
        long backoffMillis = FIRST_BACKOFF_MILLIS;

        Run(Deadline budget, Function<Deadline, CompletableFuture<T>> attempt) {
            this.budget = budget;
            this.attempt = attempt;
        }

        void next() {
            attempts++;
            CompletableFuture<T> answer;
            try {
                answer = attempt.apply(deadlineRetried ? budget : share());
            } catch (RuntimeException e) {
                answer = CompletableFuture.failedFuture(e);
            }
            answer.whenComplete((value, error) -> {
                if (error == null) {
                    result.complete(value);
                } else {
                    retryOrFail(error);
                }
            });
        }

        private Deadline share() {
            long left = budget.timeRemaining(TimeUnit.NANOSECONDS);
            return Deadline.after(left / SHARE_DENOMINATOR * SHARE_NUMERATOR, TimeUnit.NANOSECONDS).minimum(budget);
        }

        private void retryOrFail(Throwable error) {
            FailureReason reason = GrpcErrors.reason(error);
            long left = budget.timeRemaining(TimeUnit.MILLISECONDS);
            if (attempts < MAX_ATTEMPTS && reason == FailureReason.DEADLINE_EXCEEDED && !deadlineRetried
                    && left >= MIN_ATTEMPT_MILLIS) {
                deadlineRetried = true;
                metrics.retry(call, reason);
                next();
                return;
            }
            if (attempts < MAX_ATTEMPTS && isBackoffRetriable(reason)) {
                long delay = jittered(backoffMillis);
                backoffMillis = Math.min(backoffMillis * 2, MAX_BACKOFF_MILLIS);
                if (left - delay >= MIN_ATTEMPT_MILLIS && schedule(delay)) {
                    metrics.retry(call, reason);
                    return;
                }
            }
            result.completeExceptionally(error);
        }

        private boolean schedule(long delayMillis) {
            try {
                timer.schedule(this::next, delayMillis, TimeUnit.MILLISECONDS);
                return true;
            } catch (RejectedExecutionException closing) {
                return false;
            }
        }
    }

    static boolean isBackoffRetriable(FailureReason reason) {
        return reason == FailureReason.OVERLOADED || reason == FailureReason.SERVICE_UNAVAILABLE;
    }

    /** Between half of {@code millis} and all of it ("equal jitter"): retries of a storm spread out. */
    static long jittered(long millis) {
        return millis / 2 + ThreadLocalRandom.current().nextLong(millis / 2 + 1);
    }
}
