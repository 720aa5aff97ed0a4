package dev.meshgate.pulsar;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Deadline;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.prometheus.client.CollectorRegistry;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class RetrierTest {

    private final CollectorRegistry registry = new CollectorRegistry();
    private final ScheduledThreadPoolExecutor timer = new ScheduledThreadPoolExecutor(1, Daemons.named("test-timer"));
    private final Retrier retrier = new Retrier("authorize", timer, new ShimMetrics(registry));

    /** Answers each attempt with the next scripted status (an error) or, once the script is empty, "answer". */
    private static final class Script {
        final List<Status> errors;
        final List<Long> deadlinesMillis = new ArrayList<>();

        Script(Status... errors) {
            this.errors = new ArrayList<>(List.of(errors));
        }

        synchronized CompletableFuture<String> attempt(Deadline deadline) {
            deadlinesMillis.add(deadline.timeRemaining(TimeUnit.MILLISECONDS));
            if (errors.isEmpty()) {
                return CompletableFuture.completedFuture("answer");
            }
            return CompletableFuture.failedFuture(errors.remove(0).asRuntimeException());
        }

        synchronized int attempts() {
            return deadlinesMillis.size();
        }
    }

    @AfterEach
    void stopTimer() {
        timer.shutdownNow();
    }

    private CompletableFuture<String> run(Script script, long budgetMillis) {
        return retrier.call(Deadline.after(budgetMillis, TimeUnit.MILLISECONDS), script::attempt);
    }

    private double retries(String reason) {
        Double value = registry.getSampleValue("meshgate_shim_retries_total", new String[] {"call", "reason"},
                new String[] {"authorize", reason});
        return value == null ? 0 : value;
    }

    private static Status.Code code(CompletableFuture<String> failed) {
        Throwable error = assertThrows(CompletionException.class, failed::join).getCause();
        return ((StatusRuntimeException) error).getStatus().getCode();
    }

    @Test
    void anOverloadedOrUnavailableServiceIsAskedAgainAfterABackoffUntilItAnswers() {
        Script script = new Script(Status.RESOURCE_EXHAUSTED, Status.UNAVAILABLE, Status.RESOURCE_EXHAUSTED);
        long began = System.nanoTime();
        assertEquals("answer", run(script, 5000).join());
        assertEquals(4, script.attempts());
        long waited = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - began);
        assertTrue(waited >= 5 + 10 + 20, "backoffs of at least 5, 10 and 20 ms (jitter halves at most): " + waited);
        assertEquals(2, retries("overloaded"));
        assertEquals(1, retries("service_unavailable"));
    }

    @Test
    void aDeadlineExceededIsRetriedOnceWithWhatIsLeftOfTheBudget() {
        Script script = new Script(Status.DEADLINE_EXCEEDED, Status.DEADLINE_EXCEEDED);
        assertEquals(Status.Code.DEADLINE_EXCEEDED, code(run(script, 1000)));
        assertEquals(2, script.attempts(), "exactly one retry");
        long first = script.deadlinesMillis.get(0);
        assertTrue(first <= 750 && first > 700, "the first attempt may use three quarters: " + first);
        assertTrue(script.deadlinesMillis.get(1) > first, "the retry gets all that is left");
        assertEquals(1, retries("deadline_exceeded"));
    }

    @Test
    void afterTheDeadlineRetryABusyServiceIsStillAskedAgain() {
        Script script = new Script(Status.DEADLINE_EXCEEDED, Status.RESOURCE_EXHAUSTED);
        assertEquals("answer", run(script, 2000).join());
        assertEquals(3, script.attempts());
    }

    @Test
    void errorsThatARetryCannotMendFailAtOnce() {
        for (Status status : List.of(Status.INTERNAL, Status.INVALID_ARGUMENT, Status.PERMISSION_DENIED,
                Status.UNIMPLEMENTED)) {
            Script script = new Script(status);
            assertEquals(status.getCode(), code(run(script, 5000)));
            assertEquals(1, script.attempts(), status.toString());
        }
        IllegalStateException bug = new IllegalStateException("bug");
        CompletableFuture<String> failed = retrier.call(Deadline.after(5, TimeUnit.SECONDS), deadline -> {
            throw bug;
        });
        assertSame(bug, assertThrows(CompletionException.class, failed::join).getCause());
    }

    @Test
    void noRetryStartsThatCouldNotFinishWithinTheBudget() {
        Script script = new Script(Status.RESOURCE_EXHAUSTED, Status.RESOURCE_EXHAUSTED, Status.RESOURCE_EXHAUSTED,
                Status.RESOURCE_EXHAUSTED, Status.RESOURCE_EXHAUSTED);
        long began = System.nanoTime();
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, code(run(script, 40)));
        assertTrue(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - began) < 40 + 20, "gave up within the budget");
        assertTrue(script.attempts() < 5, "not every scripted error was asked for: " + script.attempts());
    }

    @Test
    void aServiceBusyForTheWholeBudgetIsAskedUntilTheBudgetEnds() {
        Status[] busy = new Status[Retrier.MAX_ATTEMPTS];
        Arrays.fill(busy, Status.RESOURCE_EXHAUSTED);
        Script script = new Script(busy);
        long began = System.nanoTime();
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, code(run(script, 1000)));
        long took = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - began);
        assertTrue(took >= 1000 - 320 && took < 1000 + 100, "asked again until the budget ran out: " + took);
        assertTrue(script.attempts() > 6 && script.attempts() < Retrier.MAX_ATTEMPTS, "" + script.attempts());
    }

    @Test
    void attemptsAreBounded() {
        Status[] down = new Status[Retrier.MAX_ATTEMPTS + 1];
        Arrays.fill(down, Status.UNAVAILABLE);
        Script script = new Script(down);
        assertEquals(Status.Code.UNAVAILABLE, code(run(script, 60_000)));
        assertEquals(Retrier.MAX_ATTEMPTS, script.attempts());
    }

    @Test
    void jitterStaysBetweenHalfAndAll() {
        for (int i = 0; i < 1000; i++) {
            long delay = Retrier.jittered(320);
            assertTrue(delay >= 160 && delay <= 320, Long.toString(delay));
        }
    }
}
