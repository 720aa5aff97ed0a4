package dev.meshgate.pulsar;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Deadline;
import io.prometheus.client.CollectorRegistry;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Many threads submitting at once against a service that answers on its own threads. */
class CoalescerStressTest {

    private static final int THREADS = 8;
    private static final int PER_THREAD = 5_000;
    private static final int MAX_IN_FLIGHT = 4;
    private static final int MAX_BATCH = 64;

    /** Without a stall time, and with one shorter than a call (so stall checks open slots too). */
    @ParameterizedTest
    @ValueSource(longs = {0, 50_000})
    void everyQuestionGetsItsOwnAnswerWithinTheLimits(long stallNanos) throws Exception {
        ExecutorService service = Executors.newFixedThreadPool(3);
        ExecutorService clients = Executors.newFixedThreadPool(THREADS);
        ScheduledThreadPoolExecutor timer = new ScheduledThreadPoolExecutor(1);
        AtomicInteger outstanding = new AtomicInteger();
        AtomicInteger peak = new AtomicInteger();
        List<Integer> sizes = new CopyOnWriteArrayList<>();
        Coalescer.BatchCall<Integer, String> call = (questions, deadline) -> {
            peak.accumulateAndGet(outstanding.incrementAndGet(), Math::max);
            sizes.add(questions.size());
            List<Integer> asked = List.copyOf(questions);
            return CompletableFuture.supplyAsync(() -> {
                LockSupport.parkNanos(100_000);
                outstanding.decrementAndGet();
                return asked.stream().map(question -> "a" + question).toList();
            }, service);
        };
        Coalescer<Integer, String> coalescer = new Coalescer<>("stress",
                new Coalescer.Limits(MAX_IN_FLIGHT, MAX_BATCH, Integer.MAX_VALUE, stallNanos), question -> 1, call,
                timer, new ShimMetrics(new CollectorRegistry()));
        try {
            submitAndCheck(coalescer, clients);
        } finally {
            service.shutdownNow();
            clients.shutdownNow();
            timer.shutdownNow();
        }
        int total = THREADS * PER_THREAD;
        assertEquals(total, sizes.stream().mapToInt(Integer::intValue).sum(), "each question sent exactly once");
        assertTrue(peak.get() <= MAX_IN_FLIGHT, "peak " + peak.get() + " calls in flight");
        assertTrue(sizes.stream().allMatch(size -> size <= MAX_BATCH));
        assertTrue(sizes.size() < total / 2, sizes.size() + " calls for " + total + " questions");
    }

    /** Each thread submits its own range of questions at once, then every answer is checked against its question. */
    private static void submitAndCheck(Coalescer<Integer, String> coalescer, ExecutorService clients)
            throws Exception {
        CountDownLatch start = new CountDownLatch(1);
        List<Future<List<CompletableFuture<String>>>> submitted = new ArrayList<>();
        for (int t = 0; t < THREADS; t++) {
            int base = t * PER_THREAD;
            submitted.add(clients.submit(() -> {
                start.await();
                List<CompletableFuture<String>> answers = new ArrayList<>(PER_THREAD);
                for (int i = 0; i < PER_THREAD; i++) {
                    answers.add(coalescer.submit(base + i, Deadline.after(30, TimeUnit.SECONDS)));
                }
                return answers;
            }));
        }
        start.countDown();
        for (int t = 0; t < THREADS; t++) {
            List<CompletableFuture<String>> answers = submitted.get(t).get(60, TimeUnit.SECONDS);
            for (int i = 0; i < PER_THREAD; i++) {
                assertEquals("a" + (t * PER_THREAD + i), answers.get(i).get(30, TimeUnit.SECONDS));
            }
        }
    }
}
