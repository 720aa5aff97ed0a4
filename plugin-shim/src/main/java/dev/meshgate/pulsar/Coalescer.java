package dev.meshgate.pulsar;

import io.grpc.Deadline;
import io.grpc.Status;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.ToIntFunction;

/**
 * Turns concurrent questions into fewer, larger batch calls. At most {@code maxInFlight} calls are
 * outstanding. With none outstanding a question goes out at once (an idle broker waits for nothing);
 * otherwise it queues, and the next call to finish sends the queue in its slot. A further slot opens only
 * once the youngest call has been out for {@code stallNanos} (a slow call, such as one waiting on a JWKS
 * refetch, must not hold every other question back): under a storm this keeps calls few and large, which
 * costs the service and the shim per call, not per question. Each question keeps the
 * deadline it was submitted with: one that passes while it queues fails with {@code DEADLINE_EXCEEDED},
 * exactly like a call that timed out, and a call's deadline is the earliest of its questions.
 *
 * <p>A call takes at most {@code maxBatch} questions and, unless it holds a single one, at most
 * {@code maxBytes} of them (so one client's oversized credential never fails its neighbours' call).
 * No lock is held while calling out or completing a future.
 */
final class Coalescer<Q, A> {

    /** One batch call; the answers come in the order of the questions. */
    @FunctionalInterface
    interface BatchCall<Q, A> {
        CompletableFuture<List<A>> call(List<Q> questions, Deadline deadline);
    }

    /**
     * How much goes out at once: calls outstanding, questions per call, bytes per call, and how long the
     * youngest call must have been out before another goes beside it (0: whenever a slot is free).
     */
    record Limits(int maxInFlight, int maxBatch, int maxBytes, long stallNanos) {
        Limits {
            if (maxInFlight < 1 || maxBatch < 1 || maxBytes < 1 || stallNanos < 0) {
                throw new IllegalArgumentException("coalescer limits must be at least 1 (stall at least 0): "
                        + this);
            }
        }
    }

    private static final class Item<Q, A> {
        final Q question;
        final Deadline deadline;
        final int bytes;
        final CompletableFuture<A> answer = new CompletableFuture<>();
        /** True from submission until the item is sent or expires; written under the coalescer's lock. */
        volatile boolean queued = true;
        volatile ScheduledFuture<?> expiry;

        Item(Q question, Deadline deadline, int bytes) {
            this.question = question;
            this.deadline = deadline;
            this.bytes = bytes;
        }
    }

    /** What one look at the queue took out: the next call's items and those already past their deadline. */
    private record Drained<Q, A>(List<Item<Q, A>> batch, List<Item<Q, A>> expired) {
    }

    private final String rpc;
    private final Limits limits;
    private final ToIntFunction<Q> size;
    private final BatchCall<Q, A> call;
    private final ScheduledExecutorService timer;
    private final ShimMetrics metrics;
    private final ArrayDeque<Item<Q, A>> queue = new ArrayDeque<>();
    private int inFlight;
    /** {@link System#nanoTime} when the youngest outstanding call went out. */
    private long youngestSentAt;
    /** A stall check is scheduled: at most one at a time. */
    private boolean stallCheckArmed;

    Coalescer(String rpc, Limits limits, ToIntFunction<Q> size, BatchCall<Q, A> call,
              ScheduledExecutorService timer, ShimMetrics metrics) {
        this.rpc = rpc;
        this.limits = limits;
        this.size = size;
        this.call = call;
        this.timer = timer;
        this.metrics = metrics;
    }

    CompletableFuture<A> submit(Q question, Deadline deadline) {
        Item<Q, A> item = new Item<>(question, deadline, size.applyAsInt(question));
        Drained<Q, A> now;
        synchronized (queue) {
            queue.add(item);
            now = sendInNewSlot(System.nanoTime());
        }
        if (now != null) {
            dispatch(now);
        }
        if (item.queued) {
            armExpiry(item);
        }
        return item.answer;
    }

    /**
     * Takes a new slot and the queue's head if the rules allow it now, else schedules the stall check that
     * will look again; the caller holds the lock. Null: nothing goes out now.
     */
    private Drained<Q, A> sendInNewSlot(long now) {
        if (queue.isEmpty() || inFlight >= limits.maxInFlight()) {
            return null;
        }
        if (inFlight > 0 && now - youngestSentAt < limits.stallNanos()) {
            armIfWaiting(now);
            return null;
        }
        Drained<Q, A> drained = drain();
        if (!drained.batch().isEmpty()) {
            inFlight++;
            youngestSentAt = now;
        }
        armIfWaiting(now);
        return drained;
    }

    /** Questions wait and a slot is free: look again once the youngest call counts as stalled. */
    private void armIfWaiting(long now) {
        if (!queue.isEmpty() && inFlight < limits.maxInFlight()) {
            armStallCheck(Math.max(0, youngestSentAt + limits.stallNanos() - now));
        }
    }

    private void armStallCheck(long delayNanos) {
        if (stallCheckArmed) {
            return;
        }
        try {
            timer.schedule(this::stallCheck, delayNanos, TimeUnit.NANOSECONDS);
            stallCheckArmed = true;
        } catch (RejectedExecutionException e) {
            // Closing: the queue goes out when the next call finishes (one is in flight), or expires.
        }
    }

    private void stallCheck() {
        Drained<Q, A> now;
        synchronized (queue) {
            stallCheckArmed = false;
            now = sendInNewSlot(System.nanoTime());
        }
        if (now != null) {
            dispatch(now);
        }
    }

    /** Takes the next call's items from the head of the queue; the caller holds the lock. */
    private Drained<Q, A> drain() {
        List<Item<Q, A>> batch = new ArrayList<>(Math.min(queue.size(), limits.maxBatch()));
        List<Item<Q, A>> expired = new ArrayList<>(0);
        long bytes = 0;
        while (batch.size() < limits.maxBatch() && !queue.isEmpty()) {
            Item<Q, A> item = queue.peek();
            boolean live = item.queued && !item.deadline.isExpired();
            if (live && !batch.isEmpty() && bytes + item.bytes > limits.maxBytes()) {
                break;
            }
            queue.poll();
            if (!item.queued) {
                continue;
            }
            item.queued = false;
            if (live) {
                batch.add(item);
                bytes += item.bytes;
            } else {
                expired.add(item);
            }
        }
        return new Drained<>(batch, expired);
    }

    private void dispatch(Drained<Q, A> drained) {
        drained.expired().forEach(this::failExpired);
        List<Item<Q, A>> batch = drained.batch();
        if (batch.isEmpty()) {
            return;
        }
        List<Q> questions = new ArrayList<>(batch.size());
        Deadline earliest = batch.get(0).deadline;
        for (Item<Q, A> item : batch) {
            cancelExpiry(item);
            questions.add(item.question);
            earliest = earliest.minimum(item.deadline);
        }
        metrics.batchItems(rpc, batch.size());
        CompletableFuture<List<A>> answers;
        try {
            answers = call.call(questions, earliest);
        } catch (RuntimeException e) {
            answers = CompletableFuture.failedFuture(e);
        }
        answers.whenComplete((result, error) -> finished(batch, result, error));
    }

    // The slot passes straight to the queue, which is sent before this call's answers are handed out:
    // those questions have waited already.
    private void finished(List<Item<Q, A>> batch, List<A> answers, Throwable error) {
        Drained<Q, A> next;
        synchronized (queue) {
            next = drain();
            if (next.batch().isEmpty()) {
                inFlight--;
            } else {
                youngestSentAt = System.nanoTime();
                armIfWaiting(youngestSentAt); // more than one call's worth waits
            }
        }
        dispatch(next);
        Throwable failure = error != null ? unwrap(error) : checkCount(answers, batch.size());
        for (int i = 0; i < batch.size(); i++) {
            if (failure != null) {
                batch.get(i).answer.completeExceptionally(failure);
            } else {
                batch.get(i).answer.complete(answers.get(i));
            }
        }
    }

    private Throwable checkCount(List<A> answers, int expected) {
        int got = answers == null ? 0 : answers.size();
        if (got == expected) {
            return null;
        }
        return new IllegalStateException("meshgate answered " + got + " answers for " + expected
                + " questions in one " + rpc + " call");
    }

    private static Throwable unwrap(Throwable error) {
        return error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
    }

    private void armExpiry(Item<Q, A> item) {
        try {
            item.expiry = timer.schedule(() -> expire(item), item.deadline.timeRemaining(TimeUnit.NANOSECONDS),
                    TimeUnit.NANOSECONDS);
        } catch (RejectedExecutionException e) {
            // Closing: the item goes out, or fails on expiry, when the next call finishes.
            return;
        }
        if (!item.queued) {
            cancelExpiry(item);
        }
    }

    private static void cancelExpiry(Item<?, ?> item) {
        ScheduledFuture<?> expiry = item.expiry;
        if (expiry != null) {
            expiry.cancel(false);
        }
    }

    private void expire(Item<Q, A> item) {
        synchronized (queue) {
            if (!item.queued) {
                return;
            }
            item.queued = false;
        }
        failExpired(item);
    }

    private void failExpired(Item<Q, A> item) {
        metrics.queueExpired(rpc);
        item.answer.completeExceptionally(Status.DEADLINE_EXCEEDED
                .withDescription("deadline passed while queued for a " + rpc + " call").asRuntimeException());
    }
}
