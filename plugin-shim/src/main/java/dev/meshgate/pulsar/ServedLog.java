package dev.meshgate.pulsar;

import dev.meshgate.proto.v1.AuthorizeRequest;
import dev.meshgate.proto.v1.Decision;
import dev.meshgate.proto.v1.Peer;
import dev.meshgate.proto.v1.ServedDecision;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.LongSupplier;

/**
 * The answers the shim gave without the service deciding them in that call, held until {@link ServedReporter}
 * hands them to the service's audit trail ({@code ReportServed}).
 *
 * <p>Filled on the broker's threads as the answers are given: no I/O and nothing that waits (a map bin is locked
 * for the length of an increment). Bounded by {@code meshgateAuditBufferEntries} entries: an answer that finds
 * the buffer full is counted and left out, never delayed and never changed. Allows of the same question (its
 * principal, action, resource, subscription, broker, peer and credential kind), served the same way with the
 * same decision, are one entry with a count, a first and a last time per report interval; every deny is its
 * own entry. No credential is ever kept: questions are stored without it.
 */
final class ServedLog {

    /** What makes two served allows one entry; {@code requestId} only for a deny after a failed call. */
    record Key(AuthorizeRequest question, Peer peer, String credentialKind, ServedBy servedBy, Decision decision,
               String requestId) {
    }

    /** A run of identical allows; changed only inside the map's {@code compute}, read after its removal. */
    private static final class Tally {
        long count = 1;
        final long first;
        long last;

        Tally(long at) {
            first = at;
            last = at;
        }
    }

    private record Deny(Key key, long at) {
    }

    private final int capacity;
    private final LongSupplier clock;
    private final ShimMetrics metrics;
    private final AtomicInteger entries = new AtomicInteger();
    private final ConcurrentMap<Key, Tally> allows = new ConcurrentHashMap<>();
    private final Queue<Deny> denies = new ConcurrentLinkedQueue<>();
    /** Entries of a failed report, kept for the next one while there is room. */
    private final Queue<ServedDecision> retries = new ConcurrentLinkedQueue<>();
    private final LongAdder dropped = new LongAdder();
    private final LongAdder overflowSinceLog = new LongAdder();

    ServedLog(int capacity, LongSupplier clock, ShimMetrics metrics) {
        this.capacity = capacity;
        this.clock = clock;
        this.metrics = metrics;
    }

    /**
     * Notes one answer. {@code question} is the question without its credential ({@link DecisionKey#strip});
     * {@code asked} the question as the broker asked it, for its peer and credential kind.
     */
    void served(AuthorizeRequest question, AuthorizeRequest asked, ServedBy how, Decision decision, String requestId) {
        Key key = new Key(question, asked.getPeer(), asked.getCredentialKind(), how, decision, requestId);
        long now = clock.getAsLong();
        if (!decision.getAllowed()) {
            if (reserve()) {
                denies.add(new Deny(key, now));
            } else {
                overflow(1);
            }
            return;
        }
        allows.compute(key, (k, tally) -> {
            if (tally == null) {
                if (!reserve()) {
                    overflow(1);
                    return null;
                }
                return new Tally(now);
            }
            tally.count++;
            tally.last = Math.max(tally.last, now);
            return tally;
        });
    }

    private boolean reserve() {
        if (entries.incrementAndGet() <= capacity) {
            return true;
        }
        entries.decrementAndGet();
        return false;
    }

    private void overflow(long answers) {
        dropped.add(answers);
        overflowSinceLog.add(answers);
        metrics.auditDropped("buffer_full", answers);
    }

    /** Takes every entry held: the retries of a failed report first, then the denies, then the allows. */
    List<ServedDecision> drain() {
        List<ServedDecision> taken = new ArrayList<>();
        for (ServedDecision retry = retries.poll(); retry != null; retry = retries.poll()) {
            taken.add(retry);
            entries.decrementAndGet();
        }
        for (Deny deny = denies.poll(); deny != null; deny = denies.poll()) {
            taken.add(entry(deny.key(), 1, deny.at(), deny.at()));
            entries.decrementAndGet();
        }
        for (Key key : allows.keySet()) {
            Tally tally = allows.remove(key);  // an answer noted after this starts a new entry
            if (tally != null) {
                taken.add(entry(key, tally.count, tally.first, tally.last));
                entries.decrementAndGet();
            }
        }
        return taken;
    }

    private static ServedDecision entry(Key key, long count, long first, long last) {
        AuthorizeRequest.Builder question = key.question().toBuilder().setPeer(key.peer())
                .setCredentialKind(key.credentialKind()).setRequestId(key.requestId());
        return ServedDecision.newBuilder()
                .setQuestion(question)
                .setDecision(key.decision().toBuilder().clearReason())
                .setServedBy(key.servedBy().wire())
                .setCount((int) Math.min(count, Integer.MAX_VALUE))
                .setFirstAtUnixMs(first)
                .setLastAtUnixMs(last)
                .build();
    }

    /**
     * Keeps the entries of a failed report for the next one, as far as there is room; the answers of the rest
     * are counted as dropped ({@code send_failed}) and reported as such. Returns how many answers were dropped.
     */
    long requeue(List<ServedDecision> failed) {
        long lost = 0;
        for (ServedDecision entry : failed) {
            if (reserve()) {
                retries.add(entry);
            } else {
                lost += entry.getCount();
            }
        }
        if (lost > 0) {
            dropped.add(lost);
            metrics.auditDropped("send_failed", lost);
        }
        return lost;
    }

    /** Answers dropped since the last call, for the next report's {@code dropped}; see {@link #undoTake}. */
    long takeDropped() {
        return dropped.sumThenReset();
    }

    /** A report carrying {@code count} dropped answers failed: carry them on to the next one. */
    void undoTake(long count) {
        dropped.add(count);
    }

    /** Answers left out because the buffer was full since the last call (for one log line per interval). */
    long overflowSinceLastLog() {
        return overflowSinceLog.sumThenReset();
    }

    /** Entries held now. */
    int size() {
        return entries.get();
    }
}
