package dev.meshgate.pulsar;

import dev.meshgate.proto.v1.ReportServedRequest;
import dev.meshgate.proto.v1.ServedDecision;
import io.grpc.Deadline;
import java.io.Closeable;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Hands the {@link ServedLog} to the service's audit trail every {@code meshgateAuditReportMillis}, on its own
 * daemon thread (never a broker I/O thread), in reports of at most {@link #MAX_ENTRIES} entries and
 * {@link #MAX_BYTES} bytes. A report that fails keeps its entries for the next one while the buffer has room;
 * what is lost is counted ({@code meshgate_shim_audit_dropped_total}), told to the service in the next report's
 * {@code dropped}, and logged in at most one line per interval. Nothing here touches a decision.
 */
final class ServedReporter implements Closeable {

    private static final Logger LOG = LoggerFactory.getLogger(ServedReporter.class);
    /** Half the service's limit per report (1000). */
    static final int MAX_ENTRIES = 500;
    /** A quarter of the service's default message cap, as for {@code AuthorizeBatch}. */
    static final int MAX_BYTES = MeshgateConfig.MAX_BATCH_BYTES;
    /** How long one report may take; the next waits for it (reports never pile up). */
    static final long REPORT_DEADLINE_MILLIS = 5_000;
    static final long CLOSE_DEADLINE_MILLIS = 2_000;
    private static final long NEVER = Long.MIN_VALUE;

    private final ServedLog log;
    private final ReportCall service;
    private final long intervalMillis;
    private final ShimMetrics metrics;
    private final ScheduledExecutorService thread;
    /** Used by the reporting thread only (and by {@link #close} once that has stopped). */
    private long loggedAt = NEVER;
    private String lastFailure;

    ServedReporter(ServedLog log, ReportCall service, long intervalMillis, ShimMetrics metrics) {
        this.log = log;
        this.service = service;
        this.intervalMillis = intervalMillis;
        this.metrics = metrics;
        this.thread = new ScheduledThreadPoolExecutor(1, Daemons.named("meshgate-audit-report"));
    }

    void start() {
        thread.scheduleWithFixedDelay(this::reportQuietly, intervalMillis, intervalMillis, TimeUnit.MILLISECONDS);
    }

    private void reportQuietly() {
        try {
            report(REPORT_DEADLINE_MILLIS);
        } catch (RuntimeException e) {
            LOG.warn("meshgate: reporting served decisions for the audit trail failed: {}", e.toString());
        }
    }

    /** Sends what the log holds now; returns how many entries the service took. */
    int report(long deadlineMillis) {
        List<ServedDecision> taken = log.drain();
        long dropped = log.takeDropped();
        int sent = 0;
        String failure = null;
        List<List<ServedDecision>> reports = split(taken);
        for (int i = 0; i < reports.size() || (i == 0 && dropped > 0); i++) {
            List<ServedDecision> entries = i < reports.size() ? reports.get(i) : List.of();
            failure = send(entries, i == 0 ? dropped : 0, deadlineMillis);
            if (failure != null) {
                if (i == 0) {
                    log.undoTake(dropped);
                }
                for (int rest = i; rest < reports.size(); rest++) {
                    log.requeue(reports.get(rest));
                }
                break;
            }
            sent += entries.size();
        }
        logOnce(failure);
        return sent;
    }

    private String send(List<ServedDecision> entries, long dropped, long deadlineMillis) {
        ReportServedRequest.Builder request =
                ReportServedRequest.newBuilder().addAllEntries(entries).setDropped(dropped);
        if (!entries.isEmpty()) {
            request.setBrokerId(entries.get(0).getQuestion().getBrokerId());
        }
        try {
            service.reportServed(request.build(), Deadline.after(deadlineMillis, TimeUnit.MILLISECONDS))
                    .get(deadlineMillis + 1000, TimeUnit.MILLISECONDS);
        } catch (ExecutionException | TimeoutException | RuntimeException e) {
            metrics.auditReportFailed();
            return GrpcErrors.describe(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            metrics.auditReportFailed();
            return "interrupted";
        }
        for (ServedDecision entry : entries) {
            metrics.auditReported(entry.getServedBy(), entry.getCount());
        }
        return null;
    }

    /** Reports of at most {@link #MAX_ENTRIES} entries and {@link #MAX_BYTES} bytes, in order. */
    static List<List<ServedDecision>> split(List<ServedDecision> entries) {
        List<List<ServedDecision>> reports = new ArrayList<>();
        List<ServedDecision> current = new ArrayList<>();
        int bytes = 0;
        for (ServedDecision entry : entries) {
            int size = entry.getSerializedSize() + 8;
            if (!current.isEmpty() && (current.size() == MAX_ENTRIES || bytes + size > MAX_BYTES)) {
                reports.add(current);
                current = new ArrayList<>();
                bytes = 0;
            }
            current.add(entry);
            bytes += size;
        }
        if (!current.isEmpty()) {
            reports.add(current);
        }
        return reports;
    }

    /**
     * At most one line per {@link FailureLog#INTERVAL_MILLIS} (an outage of the sidecar fails every report):
     * the answers left out since the last line, and the latest failure.
     */
    private void logOnce(String failure) {
        if (failure != null) {
            lastFailure = failure;
        }
        long now = System.nanoTime();
        if (loggedAt != NEVER && now - loggedAt < TimeUnit.MILLISECONDS.toNanos(FailureLog.INTERVAL_MILLIS)) {
            return;
        }
        long overflow = log.overflowSinceLastLog();
        if (lastFailure == null && overflow == 0) {
            return;
        }
        loggedAt = now;
        List<String> why = new ArrayList<>(2);
        if (overflow > 0) {
            why.add(overflow + " answers left out because the buffer (meshgateAuditBufferEntries) was full");
        }
        if (lastFailure != null) {
            why.add("reporting to the meshgate service failed (" + lastFailure + "); " + log.size()
                    + " entries kept for the next report");
            lastFailure = null;
        }
        LOG.warn("meshgate: answers the shim served are not in the audit trail yet: {}; see"
                + " meshgate_shim_audit_dropped_total", String.join("; ", why));
    }

    /** Stops the thread and makes a last report, so an orderly broker shutdown loses nothing it can still send. */
    @Override
    public void close() {
        thread.shutdownNow();
        try {
            thread.awaitTermination(REPORT_DEADLINE_MILLIS, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
        }
        report(CLOSE_DEADLINE_MILLIS);
    }
}
