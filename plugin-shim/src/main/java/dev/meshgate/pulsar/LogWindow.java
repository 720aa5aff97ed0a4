package dev.meshgate.pulsar;

import java.util.concurrent.atomic.AtomicLong;

/**
 * One rate-limited kind of log line: counts what happened and says when a line is due, at most once per interval.
 * Never waits: the event that finds the interval over writes the line.
 */
final class LogWindow {

    private static final long NEVER = Long.MIN_VALUE;

    private final AtomicLong count = new AtomicLong();
    private final AtomicLong loggedAt = new AtomicLong(NEVER);

    /** Counts one event at {@code now}; when a line is due, returns the events since the last one, else 0. */
    long due(long now, long intervalNanos) {
        count.incrementAndGet();
        long last = loggedAt.get();
        if ((last == NEVER || now - last >= intervalNanos) && loggedAt.compareAndSet(last, now)) {
            return count.getAndSet(0);
        }
        return 0;
    }
}
