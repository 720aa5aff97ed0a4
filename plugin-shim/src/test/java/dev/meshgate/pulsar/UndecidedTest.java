package dev.meshgate.pulsar;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshgate.proto.v1.AuthorizeBatchRequest;
import io.grpc.Deadline;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import javax.naming.AuthenticationException;
import org.apache.pulsar.broker.authentication.AuthenticationDataCommand;
import org.apache.pulsar.broker.web.RestException;
import org.junit.jupiter.api.Test;

/**
 * When meshgate cannot decide, the question is denied by a failure that says why and names the service's address
 * (what reaches the client and the broker log), and the broker log says so once per interval, not per question.
 */
class UndecidedTest extends DeciderFixture {

    private static final MeshgateConfig UNIX = MeshgateConfig.from(MeshgateConfigTest.conf(
            "meshgateTargets", "unix:/run/meshgate/meshgate.sock", "meshgateConnectDeadlineMillis", "60"));
    private static final String UNREACHABLE = "the meshgate service at unix:/run/meshgate/meshgate.sock is"
            + " unreachable (UNAVAILABLE: connect: No such file or directory): check that the meshgate sidecar is"
            + " running and listening there (broker.conf meshgateTargets)";

    @Test
    void anUnreachableServiceIsNamedInTheFailureWithinTheBudget() {
        service.outage(Status.UNAVAILABLE.withDescription("connect: No such file or directory"));
        long began = System.nanoTime();
        Decider.Outcome outcome = decider(UNIX, activeCache(UNIX, "r1")).outcome(question("reader")).join();
        assertTrue(System.nanoTime() - began < 60_000_000L + 40_000_000L, "failed within its budget");
        assertFalse(outcome.allowed());
        assertEquals(UNREACHABLE, outcome.failure());
        assertEquals(1, decisions("deny", "service_unavailable"));
    }

    @Test
    void theBinaryProtocolGetsAnAuthenticationExceptionWhoseTextIsTheReason() {
        Decider.Outcome outcome = new Decider.Outcome(false, DecisionReason.SERVICE_UNAVAILABLE, null,
                ServedBy.SHIM_ERROR, UNREACHABLE);
        CompletionException failed = assertThrows(CompletionException.class, () ->
                Undecided.allowedOrFail(outcome, new AuthenticationDataCommand("t",
                        new InetSocketAddress("127.0.0.1", 1), null)));
        AuthenticationException cause = assertInstanceOf(Undecided.class, failed.getCause());
        assertEquals("meshgate could not decide, so this is denied: " + UNREACHABLE, cause.getMessage());
        // ServerCnx sends a producer or subscriber getMessage() of the CompletionException around it.
        assertEquals(cause.getMessage(), new CompletionException(cause).getMessage());
    }

    @Test
    void httpGetsA503WithTheReasonInsteadOfAStackTrace() {
        Decider.Outcome outcome = new Decider.Outcome(false, DecisionReason.SERVICE_UNAVAILABLE, null,
                ServedBy.SHIM_ERROR, UNREACHABLE);
        CompletionException failed = assertThrows(CompletionException.class, () ->
                Undecided.allowedOrFail(outcome, CredentialsTest.http(Map.of())));
        RestException cause = assertInstanceOf(RestException.class, failed.getCause());
        assertEquals(503, cause.getResponse().getStatus());
        assertTrue(cause.getMessage().endsWith(UNREACHABLE), cause.getMessage());
    }

    @Test
    void decidedAnswersAreUnchanged() {
        assertTrue(Undecided.allowedOrFail(new Decider.Outcome(true, DecisionReason.POLICY,
                null, ServedBy.SHIM_INFLIGHT, null), null));
        assertFalse(Undecided.allowedOrFail(new Decider.Outcome(false, DecisionReason.CACHED,
                null, ServedBy.SHIM_CACHE, null), null), "an explicit deny is an answer, not a failure");
    }

    @Test
    void theBudgetThatRanOutIsNamed() {
        service.outage(Status.DEADLINE_EXCEEDED);
        Decider.Outcome outcome = decider(UNIX, activeCache(UNIX, "r1")).outcome(question("reader")).join();
        assertEquals("the meshgate service at unix:/run/meshgate/meshgate.sock did not answer within 60 ms"
                + " (meshgateConnectDeadlineMillis)", outcome.failure());
        assertNull(decider(UNIX, new DecisionCache(UNIX)).outcome(question("")).join().failure(), "no role: an answer");
    }

    @Test
    void aCallThatNeverGotAConnectionIsCalledUnreachableNotSlow() throws Exception {
        String name = InProcessServerBuilder.generateName();  // no server by that name: nothing to connect to
        ManagedChannel channel = InProcessChannelBuilder.forName(name).build();
        try (MeshgateClient client = new MeshgateClient(UNIX, List.of(channel), new Channels(TlsFiles.NONE),
                metrics)) {
            Throwable error = assertThrows(CompletionException.class, () -> client.authorizeBatch(
                    AuthorizeBatchRequest.getDefaultInstance(), Deadline.after(200, TimeUnit.MILLISECONDS)).join());
            assertEquals(FailureReason.DEADLINE_EXCEEDED, GrpcErrors.reason(error), "the retry rules are unchanged");
            assertEquals("the meshgate service at unix:/run/meshgate/meshgate.sock is unreachable (no connection"
                    + " within 60 ms, meshgateConnectDeadlineMillis): check that the meshgate sidecar is running"
                    + " and listening there (broker.conf meshgateTargets)", Undecided.why(
                    FailureReason.DEADLINE_EXCEEDED, error, UNIX, "meshgateConnectDeadlineMillis", 60));
        }
    }

    @Test
    void theBrokerLogSaysItOncePerIntervalWithHowManyWereDenied() {
        AtomicLong now = new AtomicLong();
        List<String> lines = new ArrayList<>();
        FailureLog log = new FailureLog(10_000, now::get, lines::add);
        for (int i = 0; i < 50; i++) {
            log.denied(FailureReason.SERVICE_UNAVAILABLE, UNREACHABLE, "topic.lookup t" + i);
            now.addAndGet(100_000_000L);  // 0.1 s: 50 questions in 5 s
        }
        log.denied(FailureReason.DEADLINE_EXCEEDED, "slow", "topic.produce t");
        assertEquals(2, lines.size(), "one line per reason: " + lines);
        assertTrue(lines.get(0).startsWith("meshgate could not decide, denied: " + UNREACHABLE + "; 1 question(s)"));
        now.addAndGet(5_000_000_000L);
        log.denied(FailureReason.SERVICE_UNAVAILABLE, UNREACHABLE, "topic.lookup t50");
        assertEquals(3, lines.size());
        assertTrue(lines.get(2).contains("; 50 question(s) denied for this reason since the last such line (at most"
                + " one per 10 s), the latest topic.lookup t50"), lines.get(2));
    }

    @Test
    void staleIfErrorAnswersAreLoggedOncePerIntervalNotPerQuestion() {
        AtomicLong now = new AtomicLong();
        List<String> lines = new ArrayList<>();
        FailureLog log = new FailureLog(10_000, now::get, lines::add);
        for (int i = 0; i < 50; i++) {
            log.repeated(FailureReason.SERVICE_UNAVAILABLE, UNREACHABLE, "topic.produce t" + i + " for app");
            now.addAndGet(100_000_000L);  // 0.1 s: 50 questions in 5 s
        }
        log.denied(FailureReason.SERVICE_UNAVAILABLE, UNREACHABLE, "topic.lookup t");
        assertEquals(2, lines.size(), "one line per outcome and reason: " + lines);
        assertTrue(lines.get(0).startsWith("meshgate could not decide, repeating earlier allows (stale-if-error): "
                + UNREACHABLE + "; 1 question(s)"), lines.get(0));
        assertTrue(lines.get(1).startsWith("meshgate could not decide, denied: "), lines.get(1));
        now.addAndGet(5_000_000_000L);
        log.repeated(FailureReason.SERVICE_UNAVAILABLE, UNREACHABLE, "topic.produce t50 for app");
        assertEquals(3, lines.size());
        assertTrue(lines.get(2).contains("; 50 question(s) answered so for this reason since the last such line (at"
                + " most one per 10 s), the latest topic.produce t50 for app"), lines.get(2));
    }
}
