package dev.meshgate.pulsar;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.function.LongFunction;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The broker log's account of questions meshgate could not decide: denied, or (stale-if-error) answered with an
 * earlier allow. One WARN line per outcome and failure reason per {@link #INTERVAL_MILLIS}, saying why, what to
 * check and how many questions were answered so since the last such line; each question is logged at DEBUG. An
 * outage of the sidecar under load thus writes a line every ten seconds, not one per question. Never waits: a
 * line is written by the question that finds the interval over.
 */
final class FailureLog {

    private static final Logger LOG = LoggerFactory.getLogger(Decider.class);
    static final long INTERVAL_MILLIS = 10_000;
    private static final long NEVER = Long.MIN_VALUE;

    /** Questions answered one way for one reason since its last line, and when that line was written. */
    private static final class Window {
        final AtomicLong count = new AtomicLong();
        final AtomicLong loggedAt = new AtomicLong(NEVER);
    }

    private final long intervalNanos;
    private final LongSupplier nanoClock;
    private final Consumer<String> warn;
    private final Map<FailureReason, Window> deniedWindows = new ConcurrentHashMap<>();
    private final Map<FailureReason, Window> repeatedWindows = new ConcurrentHashMap<>();

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
        LOG.debug("meshgate: denying {}: {}", question, why);
        line(deniedWindows, reason, count -> "meshgate could not decide, denied: " + why + "; " + count
                + " question(s) denied for this reason since the last such line (" + perInterval() + "), the latest "
                + question);
    }

    /**
     * One question answered with an earlier allow under stale-if-error because the service could not answer
     * ({@code error}, as {@link GrpcErrors#describe}).
     */
    void repeated(FailureReason reason, String error, String question) {
        LOG.debug("meshgate: repeating an earlier allow of {} (stale-if-error): {}", question, error);
        line(repeatedWindows, reason, count -> "meshgate could not decide, repeating earlier allows (stale-if-error): "
                + error + "; " + count + " question(s) answered so for this reason since the last such line ("
                + perInterval() + "), the latest " + question);
    }

    private void line(Map<FailureReason, Window> windows, FailureReason reason, LongFunction<String> text) {
        Window window = windows.computeIfAbsent(reason, r -> new Window());
        window.count.incrementAndGet();
        long now = nanoClock.getAsLong();
        long last = window.loggedAt.get();
        if ((last == NEVER || now - last >= intervalNanos) && window.loggedAt.compareAndSet(last, now)) {
            warn.accept(text.apply(window.count.getAndSet(0)));
        }
    }

    private String perInterval() {
        return "at most one per " + TimeUnit.NANOSECONDS.toSeconds(intervalNanos) + " s";
    }
}
