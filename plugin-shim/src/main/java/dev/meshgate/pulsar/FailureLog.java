package dev.meshgate.pulsar;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The broker log's account of questions denied because meshgate could not decide them: one WARN line per
 * failure reason per {@link #INTERVAL_MILLIS}, saying why, what to check and how many questions were denied so
 * since the last such line; each question is logged at DEBUG. An outage of the sidecar under load thus writes a
 * line every ten seconds, not one per question. Never waits: a line is written by the question that finds the
 * interval over.
 */
final class FailureLog {

    private static final Logger LOG = LoggerFactory.getLogger(Decider.class);
    static final long INTERVAL_MILLIS = 10_000;
    private static final long NEVER = Long.MIN_VALUE;

    /** Questions denied for one reason since its last line, and when that line was written. */
    private static final class Window {
        final AtomicLong denied = new AtomicLong();
        final AtomicLong loggedAt = new AtomicLong(NEVER);
    }

    private final long intervalNanos;
    private final LongSupplier nanoClock;
    private final Consumer<String> warn;
    private final Map<FailureReason, Window> windows = new ConcurrentHashMap<>();

    FailureLog() {
        this(INTERVAL_MILLIS, System::nanoTime, LOG::warn);
    }

    /** {@code warn}: where the lines go (the broker log; a list in tests). */
    FailureLog(long intervalMillis, LongSupplier nanoClock, Consumer<String> warn) {
        this.intervalNanos = TimeUnit.MILLISECONDS.toNanos(intervalMillis);
        this.nanoClock = nanoClock;
        this.warn = warn;
    }

    /** One question denied for {@code reason}; {@code why} as {@link Undecided#why}, {@code question} for the log. */
    void denied(FailureReason reason, String why, String question) {
        Window window = windows.computeIfAbsent(reason, r -> new Window());
        window.denied.incrementAndGet();
        LOG.debug("meshgate: denying {}: {}", question, why);
        long now = nanoClock.getAsLong();
        long last = window.loggedAt.get();
        if ((last == NEVER || now - last >= intervalNanos) && window.loggedAt.compareAndSet(last, now)) {
            long denied = window.denied.getAndSet(0);
            warn.accept("meshgate could not decide, denied: " + why + "; " + denied + " question(s) denied for this"
                    + " reason since the last such line (at most one per "
                    + TimeUnit.NANOSECONDS.toSeconds(intervalNanos) + " s), the latest " + question);
        }
    }
}
