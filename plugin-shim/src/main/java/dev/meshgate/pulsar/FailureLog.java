package dev.meshgate.pulsar;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
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

    private final long intervalNanos;
    private final LongSupplier nanoClock;
    private final Consumer<String> warn;
    private final Map<FailureReason, LogWindow> deniedWindows = new ConcurrentHashMap<>();
    private final Map<FailureReason, LogWindow> repeatedWindows = new ConcurrentHashMap<>();

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

    private void line(Map<FailureReason, LogWindow> windows, FailureReason reason, LongFunction<String> text) {
        long count = windows.computeIfAbsent(reason, r -> new LogWindow()).due(nanoClock.getAsLong(), intervalNanos);
        if (count > 0) {
            warn.accept(text.apply(count));
        }
    }

    private String perInterval() {
        return "at most one per " + TimeUnit.NANOSECONDS.toSeconds(intervalNanos) + " s";
    }
}
