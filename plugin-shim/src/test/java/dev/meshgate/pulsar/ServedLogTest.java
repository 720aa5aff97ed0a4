package dev.meshgate.pulsar;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshgate.proto.v1.AuthorizeRequest;
import dev.meshgate.proto.v1.Credential;
import dev.meshgate.proto.v1.Decision;
import dev.meshgate.proto.v1.Peer;
import dev.meshgate.proto.v1.ServedDecision;
import io.prometheus.client.CollectorRegistry;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** The buffer of answers served without the service: aggregation of allows, every deny alone, bounded, counted. */
class ServedLogTest {

    private static final Decision ALLOW = DecisionCacheTest.answer("r1", true).toBuilder().setRuleId("p#r")
            .setReason("a reason the audit record does not carry").build();
    private static final Decision DENY = DecisionCacheTest.answer("r1", false);

    private final CollectorRegistry registry = new CollectorRegistry();
    private final ShimMetrics metrics = new ShimMetrics(registry);
    private final AtomicLong now = new AtomicLong(1_000);

    private static AuthorizeRequest asked(String peer) {
        return DecisionCacheTest.question("writer", "billing").toBuilder()
                .setPeer(Peer.newBuilder().setAddress(peer).setAuthMethod("token").setTransport("binary"))
                .setCredentialKind("k8s_sa_token")
                .setCredential(Credential.newBuilder().setToken("header.payload.signature")).build();
    }

    private static void serve(ServedLog log, AuthorizeRequest asked, ServedBy how, Decision decision) {
        log.served(DecisionKey.strip(asked), asked, how, decision, "");
    }

    private double dropped(String reason) {
        Double value = registry.getSampleValue("meshgate_shim_audit_dropped_total", new String[] {"reason"},
                new String[] {reason});
        return value == null ? 0 : value;
    }

    @Test
    void identicalAllowsAreOneEntryWithACountAndTheirInterval() {
        ServedLog log = new ServedLog(100, now::get, metrics);
        for (int i = 0; i < 3; i++) {
            serve(log, asked("10.0.0.1:1000"), ServedBy.SHIM_CACHE, ALLOW);
            now.addAndGet(250);
        }
        serve(log, asked("10.0.0.2:2000"), ServedBy.SHIM_CACHE, ALLOW);
        serve(log, asked("10.0.0.1:1000"), ServedBy.SHIM_INFLIGHT, ALLOW);
        List<ServedDecision> entries = log.drain();
        assertEquals(3, entries.size(), "another peer, another way: other entries");
        ServedDecision first = entries.stream().filter(e -> e.getCount() == 3).findFirst().orElseThrow();
        assertEquals(1_000, first.getFirstAtUnixMs());
        assertEquals(1_500, first.getLastAtUnixMs());
        assertEquals("shim_cache", first.getServedBy());
        assertEquals("10.0.0.1:1000", first.getQuestion().getPeer().getAddress());
        assertEquals("k8s_sa_token", first.getQuestion().getCredentialKind());
        assertEquals("p#r", first.getDecision().getRuleId());
        assertEquals("r1", first.getDecision().getRevision());
        assertEquals("", first.getDecision().getReason());
        assertEquals(0, log.size());
        assertTrue(log.drain().isEmpty(), "a drained entry is gone");
    }

    @Test
    void everyDenyIsItsOwnEntryAndNoCredentialIsKept() {
        ServedLog log = new ServedLog(100, now::get, metrics);
        serve(log, asked("10.0.0.1:1000"), ServedBy.SHIM_CACHE, DENY);
        serve(log, asked("10.0.0.1:1000"), ServedBy.SHIM_CACHE, DENY);
        log.served(DecisionKey.strip(asked("10.0.0.1:1000")), asked("10.0.0.1:1000"), ServedBy.SHIM_ERROR,
                Decision.newBuilder().setReasonCode("service_unavailable").build(), "request-7");
        List<ServedDecision> entries = log.drain();
        assertEquals(3, entries.size());
        assertTrue(entries.stream().allMatch(e -> e.getCount() == 1 && !e.getDecision().getAllowed()));
        assertTrue(entries.stream().noneMatch(e -> e.getQuestion().hasCredential()));
        assertFalse(entries.toString().contains("signature"));
        assertEquals("request-7", entries.get(2).getQuestion().getRequestId());
        assertEquals("shim_error", entries.get(2).getServedBy());
    }

    @Test
    void aFullBufferLeavesAnswersOutAndCountsThem() {
        ServedLog log = new ServedLog(100, now::get, metrics);
        for (int i = 0; i < 100; i++) {
            serve(log, asked("10.0.0.1:" + i), ServedBy.SHIM_CACHE, ALLOW);
        }
        serve(log, asked("10.0.0.1:0"), ServedBy.SHIM_CACHE, ALLOW);  // joins an entry: still counted
        serve(log, asked("10.0.0.2:1"), ServedBy.SHIM_CACHE, ALLOW);
        serve(log, asked("10.0.0.2:1"), ServedBy.SHIM_CACHE, DENY);
        assertEquals(100, log.size());
        assertEquals(2, dropped("buffer_full"));
        assertEquals(2, log.takeDropped());
        assertEquals(0, log.takeDropped());
        assertEquals(2, log.overflowSinceLastLog());
        assertEquals(101, log.drain().stream().mapToLong(ServedDecision::getCount).sum());
    }

    @Test
    void aFailedReportIsKeptWhileThereIsRoomAndTheRestCounted() {
        ServedLog log = new ServedLog(100, now::get, metrics);
        List<ServedDecision> failed = new ArrayList<>();
        for (int i = 0; i < 101; i++) {
            failed.add(ServedDecision.newBuilder().setCount(i == 100 ? 7 : 1).build());
        }
        assertEquals(7, log.requeue(failed));
        assertEquals(7, dropped("send_failed"));
        assertEquals(7, log.takeDropped());
        assertEquals(100, log.drain().size());
    }

    @Test
    void concurrentAllowsAreCountedExactlyAcrossDrains() throws InterruptedException {
        ServedLog log = new ServedLog(100, now::get, metrics);
        int threads = 4;
        int each = 20_000;
        CountDownLatch start = new CountDownLatch(1);
        List<Thread> workers = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            Thread worker = new Thread(() -> {
                awaitQuietly(start);
                for (int i = 0; i < each; i++) {
                    serve(log, asked("10.0.0.1:1000"), ServedBy.SHIM_CACHE, ALLOW);
                }
            });
            worker.start();
            workers.add(worker);
        }
        start.countDown();
        long counted = 0;
        while (workers.stream().anyMatch(Thread::isAlive)) {
            counted += log.drain().stream().mapToLong(ServedDecision::getCount).sum();
        }
        for (Thread worker : workers) {
            worker.join();
        }
        counted += log.drain().stream().mapToLong(ServedDecision::getCount).sum();
        assertEquals((long) threads * each, counted);
        assertEquals(0, dropped("buffer_full"));
    }

    private static void awaitQuietly(CountDownLatch latch) {
        try {
            latch.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
