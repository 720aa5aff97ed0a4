package dev.meshgate.pulsar;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Deadline;
import io.grpc.Status;
import io.prometheus.client.CollectorRegistry;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class CoalescerTest {

    /** Records each call; the test answers it ("a" + question) or fails it when it likes. */
    static final class Calls implements Coalescer.BatchCall<Integer, String> {
        record Call(List<Integer> questions, Deadline deadline, CompletableFuture<List<String>> answers) {
            void answer() {
                answers.complete(questions.stream().map(question -> "a" + question).toList());
            }
        }

        final List<Call> calls = new CopyOnWriteArrayList<>();

        @Override
        public CompletableFuture<List<String>> call(List<Integer> questions, Deadline deadline) {
            Call call = new Call(List.copyOf(questions), deadline, new CompletableFuture<>());
            calls.add(call);
            return call.answers();
        }

        Call get(int index) {
            return calls.get(index);
        }
    }

    private final CollectorRegistry registry = new CollectorRegistry();
    private final ShimMetrics metrics = new ShimMetrics(registry);
    private final ScheduledThreadPoolExecutor timer = new ScheduledThreadPoolExecutor(1, Daemons.named("test-timer"));
    private final Calls calls = new Calls();

    @AfterEach
    void stopTimer() {
        timer.shutdownNow();
    }

    /** Without a stall time: a question goes out whenever a slot is free. */
    private Coalescer<Integer, String> coalescer(int maxInFlight, int maxBatch, int maxBytes) {
        return stalling(maxInFlight, maxBatch, maxBytes, 0);
    }

    private Coalescer<Integer, String> stalling(int maxInFlight, int maxBatch, int maxBytes, long stallMillis) {
        return new Coalescer<>("test", new Coalescer.Limits(maxInFlight, maxBatch, maxBytes,
                TimeUnit.MILLISECONDS.toNanos(stallMillis)), question -> question, calls, timer, metrics);
    }

    /** Waits (bounded) until the coalescer has made {@code count} calls. */
    private void awaitCalls(int count) throws InterruptedException {
        long give = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (calls.calls.size() < count && System.nanoTime() < give) {
            Thread.sleep(1);
        }
        assertEquals(count, calls.calls.size());
    }

    private static Deadline seconds(long seconds) {
        return Deadline.after(seconds, TimeUnit.SECONDS);
    }

    private static Throwable failure(CompletableFuture<?> future) {
        return GrpcErrors.unwrap(assertThrows(CompletionException.class, future::join));
    }

    @Test
    void anIdleCoalescerSendsAQuestionAtOnceOnItsOwn() {
        Deadline deadline = seconds(5);
        CompletableFuture<String> answer = coalescer(4, 128, 1000).submit(7, deadline);
        assertEquals(1, calls.calls.size());
        assertEquals(List.of(7), calls.get(0).questions());
        assertSame(deadline, calls.get(0).deadline());
        calls.get(0).answer();
        assertEquals("a7", answer.join());
        assertEquals(1.0, registry.getSampleValue("meshgate_shim_batch_items_sum", new String[] {"rpc"},
                new String[] {"test"}));
    }

    @Test
    void questionsAskedWhileEverySlotIsBusyGoOutTogetherWhenOneFrees() {
        Coalescer<Integer, String> coalescer = coalescer(2, 128, 1000);
        CompletableFuture<String> one = coalescer.submit(1, seconds(5));
        CompletableFuture<String> two = coalescer.submit(2, seconds(5));
        List<CompletableFuture<String>> queued = List.of(coalescer.submit(3, seconds(5)),
                coalescer.submit(4, seconds(5)), coalescer.submit(5, seconds(5)));
        assertEquals(2, calls.calls.size(), "two slots, two calls");
        calls.get(1).answer();
        assertEquals("a2", two.join());
        assertEquals(List.of(3, 4, 5), calls.get(2).questions(), "the freed slot took the whole queue");
        assertFalse(one.isDone());
        calls.get(2).answer();
        assertEquals(List.of("a3", "a4", "a5"), queued.stream().map(CompletableFuture::join).toList());
        calls.get(0).answer();
        assertEquals("a1", one.join());
        assertEquals(3, calls.calls.size());
        coalescer.submit(6, seconds(5));
        assertEquals(List.of(6), calls.get(3).questions(), "slots free again: straight out");
    }

    @Test
    void withAStallTimeASecondCallGoesOutOnlyOnceTheFirstHasBeenOutThatLong() throws Exception {
        Coalescer<Integer, String> coalescer = stalling(4, 128, 1000, 150);
        long began = System.nanoTime();
        coalescer.submit(1, seconds(5));
        List<CompletableFuture<String>> queued = List.of(coalescer.submit(2, seconds(5)),
                coalescer.submit(3, seconds(5)));
        assertEquals(1, calls.calls.size(), "a free slot, but the call out is young: the questions wait");
        awaitCalls(2);
        long waited = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - began);
        assertTrue(waited >= 140, "the second call went out after " + waited + " ms");
        assertEquals(List.of(2, 3), calls.get(1).questions(), "the whole queue in the new slot");
        calls.get(1).answer();
        assertEquals(List.of("a2", "a3"), queued.stream().map(CompletableFuture::join).toList());
        awaitCalls(2);
        calls.get(0).answer();
        coalescer.submit(4, seconds(5));
        assertEquals(List.of(4), calls.get(2).questions(), "nothing out: straight away");
    }

    @Test
    void withAStallTimeQuestionsWaitingOnAQuickCallGoOutInItsSlotWithoutAnExtraCall() throws Exception {
        Coalescer<Integer, String> coalescer = stalling(4, 128, 1000, 10_000);
        coalescer.submit(1, seconds(5));
        List<CompletableFuture<String>> queued = List.of(coalescer.submit(2, seconds(5)),
                coalescer.submit(3, seconds(5)));
        calls.get(0).answer();
        assertEquals(List.of(2, 3), calls.get(1).questions());
        coalescer.submit(4, seconds(5));
        calls.get(1).answer();
        assertEquals(List.of("a2", "a3"), queued.stream().map(CompletableFuture::join).toList());
        assertEquals(List.of(4), calls.get(2).questions(), "the slot passed on again");
        assertEquals(3, calls.calls.size());
    }

    @Test
    void aCallTakesAtMostMaxBatchQuestionsAndTheRestWaitForTheNextSlot() {
        Coalescer<Integer, String> coalescer = coalescer(1, 2, 1000);
        coalescer.submit(1, seconds(5));
        List<CompletableFuture<String>> queued = List.of(coalescer.submit(2, seconds(5)),
                coalescer.submit(3, seconds(5)), coalescer.submit(4, seconds(5)), coalescer.submit(5, seconds(5)),
                coalescer.submit(6, seconds(5)));
        calls.get(0).answer();
        assertEquals(List.of(2, 3), calls.get(1).questions());
        assertEquals(2, calls.calls.size(), "one slot");
        calls.get(1).answer();
        assertEquals(List.of(4, 5), calls.get(2).questions());
        calls.get(2).answer();
        assertEquals(List.of(6), calls.get(3).questions());
        calls.get(3).answer();
        assertEquals(List.of("a2", "a3", "a4", "a5", "a6"), queued.stream().map(CompletableFuture::join).toList());
    }

    @Test
    void aCallStopsAtMaxBytesButAnOversizedQuestionStillGoesOutAlone() {
        Coalescer<Integer, String> coalescer = coalescer(1, 128, 100);
        coalescer.submit(1, seconds(5));
        coalescer.submit(60, seconds(5));
        coalescer.submit(30, seconds(5));
        coalescer.submit(20, seconds(5));
        coalescer.submit(500, seconds(5));
        coalescer.submit(2, seconds(5));
        calls.get(0).answer();
        assertEquals(List.of(60, 30), calls.get(1).questions());
        calls.get(1).answer();
        assertEquals(List.of(20), calls.get(2).questions(), "20 + 500 is over the budget");
        calls.get(2).answer();
        assertEquals(List.of(500), calls.get(3).questions());
        calls.get(3).answer();
        assertEquals(List.of(2), calls.get(4).questions());
    }

    @Test
    void aQueuedQuestionFailsAtItsOwnDeadlineAndIsNeverSent() {
        Coalescer<Integer, String> coalescer = coalescer(1, 128, 1000);
        coalescer.submit(1, seconds(5));
        long began = System.nanoTime();
        CompletableFuture<String> late = coalescer.submit(2, Deadline.after(50, TimeUnit.MILLISECONDS));
        CompletableFuture<String> patient = coalescer.submit(3, seconds(5));
        Throwable error = failure(late);
        long waited = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - began);
        assertTrue(waited >= 45 && waited < 2000, "failed after " + waited + " ms");
        assertEquals(Status.Code.DEADLINE_EXCEEDED, Status.fromThrowable(error).getCode());
        assertEquals(FailureReason.DEADLINE_EXCEEDED, GrpcErrors.reason(error));
        assertEquals(1.0, registry.getSampleValue("meshgate_shim_queue_expired_total", new String[] {"rpc"},
                new String[] {"test"}));
        calls.get(0).answer();
        assertEquals(List.of(3), calls.get(1).questions());
        calls.get(1).answer();
        assertEquals("a3", patient.join());
    }

    @Test
    void aQuestionPastItsDeadlineWhenASlotFreesFailsWithoutWaitingForTheTimer() {
        timer.shutdownNow();
        Coalescer<Integer, String> coalescer = coalescer(1, 128, 1000);
        coalescer.submit(1, seconds(5));
        CompletableFuture<String> expired = coalescer.submit(2, Deadline.after(-1, TimeUnit.MILLISECONDS));
        assertFalse(expired.isDone(), "no timer to fire");
        calls.get(0).answer();
        assertEquals(Status.Code.DEADLINE_EXCEEDED, Status.fromThrowable(failure(expired)).getCode());
        assertEquals(1, calls.calls.size());
    }

    @Test
    void aCallsDeadlineIsTheEarliestOfItsQuestions() {
        Coalescer<Integer, String> coalescer = coalescer(1, 128, 1000);
        coalescer.submit(1, seconds(5));
        Deadline soon = seconds(3);
        coalescer.submit(2, seconds(9));
        coalescer.submit(3, soon);
        coalescer.submit(4, seconds(7));
        calls.get(0).answer();
        assertSame(soon, calls.get(1).deadline());
    }

    @Test
    void aFailedCallFailsEachOfItsQuestionsWithTheSameError() {
        Coalescer<Integer, String> coalescer = coalescer(1, 128, 1000);
        coalescer.submit(1, seconds(5));
        List<CompletableFuture<String>> queued = List.of(coalescer.submit(2, seconds(5)),
                coalescer.submit(3, seconds(5)));
        calls.get(0).answer();
        calls.get(1).answers().completeExceptionally(Status.UNAVAILABLE.withDescription("gone").asRuntimeException());
        for (CompletableFuture<String> answer : queued) {
            assertEquals(Status.Code.UNAVAILABLE, Status.fromThrowable(failure(answer)).getCode());
        }
    }

    @Test
    void theWrongNumberOfAnswersFailsEveryQuestionRatherThanGuess() {
        Coalescer<Integer, String> coalescer = coalescer(1, 128, 1000);
        coalescer.submit(1, seconds(5));
        List<CompletableFuture<String>> queued = List.of(coalescer.submit(2, seconds(5)),
                coalescer.submit(3, seconds(5)), coalescer.submit(4, seconds(5)));
        calls.get(0).answer();
        calls.get(1).answers().complete(List.of("a2", "a3"));
        for (CompletableFuture<String> answer : queued) {
            Throwable error = failure(answer);
            assertEquals("meshgate answered 2 answers for 3 questions in one test call", error.getMessage());
            assertEquals(FailureReason.INTERNAL_ERROR, GrpcErrors.reason(error));
        }
    }

    @Test
    void aCallThatThrowsFailsItsQuestionsAndFreesItsSlot() {
        Coalescer<Integer, String> coalescer = new Coalescer<>("test", new Coalescer.Limits(1, 128, 1000, 0),
                question -> 1, (questions, deadline) -> {
                    throw new IllegalStateException("boom");
                }, timer, metrics);
        assertEquals("boom", failure(coalescer.submit(1, seconds(5))).getMessage());
        assertEquals("boom", failure(coalescer.submit(2, seconds(5))).getMessage(), "the slot was given back");
    }
}
