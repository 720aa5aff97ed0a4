package dev.meshgate.pulsar;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshgate.proto.v1.Decision;
import dev.meshgate.proto.v1.ReportServedRequest;
import dev.meshgate.proto.v1.ReportServedResponse;
import dev.meshgate.proto.v1.ServedDecision;
import io.grpc.Status;
import io.prometheus.client.CollectorRegistry;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/** Reports: bounded in entries, a failed one kept for the next while there is room, drops carried over. */
class ServedReporterTest {

    private final CollectorRegistry registry = new CollectorRegistry();
    private final ShimMetrics metrics = new ShimMetrics(registry);
    private final List<ReportServedRequest> sent = new ArrayList<>();
    private final AtomicBoolean down = new AtomicBoolean();

    private CompletableFuture<ReportServedResponse> service(ReportServedRequest request) {
        if (down.get()) {
            return CompletableFuture.failedFuture(Status.UNAVAILABLE.withDescription("connection refused")
                    .asRuntimeException());
        }
        sent.add(request);
        return CompletableFuture.completedFuture(ReportServedResponse.newBuilder()
                .setRecorded(request.getEntriesCount()).build());
    }

    private static void denies(ServedLog log, int count) {
        for (int i = 0; i < count; i++) {
            log.served(DecisionKey.strip(DecisionCacheTest.question("reader", "s" + i)),
                    DecisionCacheTest.question("reader", "s" + i), ServedBy.SHIM_CACHE,
                    Decision.newBuilder().setRevision("r1").build(), "");
        }
    }

    private double sample(String name, String label, String value) {
        Double found = label == null ? registry.getSampleValue(name)
                : registry.getSampleValue(name, new String[] {label}, new String[] {value});
        return found == null ? 0 : found;
    }

    @Test
    void reportsAreBoundedAndCarryEveryEntryOnce() {
        ServedLog log = new ServedLog(5_000, () -> 1_000, metrics);
        ServedReporter reporter = new ServedReporter(log, (request, deadline) -> service(request), 1000, metrics);
        denies(log, 1_201);
        assertEquals(1_201, reporter.report(1000));
        assertEquals(List.of(500, 500, 201), sent.stream().map(ReportServedRequest::getEntriesCount).toList());
        assertEquals(1_201, sample("meshgate_shim_audit_reported_total", "served_by", "shim_cache"));
        assertTrue(sent.stream().allMatch(r -> r.getEntriesList().stream().allMatch(ServedDecision::hasQuestion)));
    }

    @Test
    void aFailedReportIsSentWithTheNextAndWhatDidNotFitIsToldAsDropped() {
        ServedLog log = new ServedLog(100, () -> 1_000, metrics);
        ServedReporter reporter = new ServedReporter(log, (request, deadline) -> service(request), 1000, metrics);
        denies(log, 60);
        down.set(true);
        assertEquals(0, reporter.report(1000));
        assertEquals(1, sample("meshgate_shim_audit_report_failures_total", null, null));
        denies(log, 60);  // 60 kept + 40 room: 20 left out of the buffer
        down.set(false);
        assertEquals(100, reporter.report(1000));
        assertEquals(1, sent.size());
        assertEquals(20, sent.get(0).getDropped(), "the service is told how many answers never reached it");
        assertEquals(20, sample("meshgate_shim_audit_dropped_total", "reason", "buffer_full"));
        assertEquals(0, reporter.report(1000));
        assertEquals(1, sent.size(), "nothing held, nothing dropped: no report");
    }

    @Test
    void closingSendsWhatIsLeft() {
        ServedLog log = new ServedLog(100, () -> 1_000, metrics);
        ServedReporter reporter = new ServedReporter(log, (request, deadline) -> service(request), 60_000, metrics);
        reporter.start();
        denies(log, 3);
        reporter.close();
        assertEquals(3, sent.stream().mapToInt(ReportServedRequest::getEntriesCount).sum());
    }
}
