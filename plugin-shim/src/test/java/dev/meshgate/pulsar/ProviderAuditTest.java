package dev.meshgate.pulsar;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshgate.proto.v1.AuthorizationGrpc;
import dev.meshgate.proto.v1.AuthorizeBatchRequest;
import dev.meshgate.proto.v1.AuthorizeBatchResponse;
import dev.meshgate.proto.v1.AuthorizeRequest;
import dev.meshgate.proto.v1.Decision;
import dev.meshgate.proto.v1.ReportServedRequest;
import dev.meshgate.proto.v1.ReportServedResponse;
import dev.meshgate.proto.v1.ServedDecision;
import io.grpc.stub.StreamObserver;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.apache.pulsar.broker.authentication.AuthenticationDataSubscription;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Through the authorization provider the broker loads, against a service on 127.0.0.1: every question names its
 * peer and credential kind, a consumer's too (its data arrives wrapped with the subscription), and a role no
 * meshgate provider proved is refused without asking but reported for the audit trail.
 */
class ProviderAuditTest {

    /** Allows every question; records the questions and the reported entries. */
    static final class RecordingService extends AuthorizationGrpc.AuthorizationImplBase {
        final List<AuthorizeRequest> asked = new CopyOnWriteArrayList<>();
        final List<ServedDecision> reported = new CopyOnWriteArrayList<>();

        @Override
        public void authorizeBatch(AuthorizeBatchRequest request, StreamObserver<AuthorizeBatchResponse> observer) {
            AuthorizeBatchResponse.Builder response = AuthorizeBatchResponse.newBuilder();
            for (AuthorizeRequest item : request.getRequestsList()) {
                asked.add(item);
                response.addDecisions(Decision.newBuilder().setAllowed(true).setRevision("r1"));
            }
            observer.onNext(response.build());
            observer.onCompleted();
        }

        @Override
        public void reportServed(ReportServedRequest request, StreamObserver<ReportServedResponse> observer) {
            reported.addAll(request.getEntriesList());
            observer.onNext(ReportServedResponse.newBuilder().setRecorded(request.getEntriesCount()).build());
            observer.onCompleted();
        }
    }

    private LoopbackProvider loopback;
    private MeshgateAuthorizationProvider provider;

    @AfterEach
    void stop() {
        if (loopback != null) {
            loopback.close();
        }
    }

    private RecordingService start() throws Exception {
        RecordingService service = new RecordingService();
        loopback = LoopbackProvider.start(service, conf -> { });
        provider = loopback.provider;
        return service;
    }

    @Test
    void aConsumersQuestionNamesTheKindThroughItsSubscriptionWrapper() throws Exception {
        RecordingService service = start();
        MeshgateCommandData data = ProvenRolesTest.proven(ProvenRolesTest.READER, "x509_svid");
        assertTrue(provider.canConsumeAsync(ProvenRolesTest.TOPIC, ProvenRolesTest.READER,
                new AuthenticationDataSubscription(data, "billing"), "billing").join());
        AuthorizeRequest asked = service.asked.get(0);
        assertEquals("x509_svid", asked.getCredentialKind());
        assertEquals("tls", asked.getPeer().getAuthMethod());
        assertEquals("binary", asked.getPeer().getTransport());
    }

    @Test
    void aRefusedUnprovenRoleIsReportedThoughNeverAsked() throws Exception {
        RecordingService service = start();
        assertFalse(provider.canProduceAsync(ProvenRolesTest.TOPIC, ProvenRolesTest.WRITER,
                ProvenRolesTest.foreign()).join());
        provider.close();  // the runtime's last report goes out as it closes
        provider = null;
        assertEquals(List.of(), service.asked);
        ServedDecision entry = service.reported.get(0);
        assertEquals("shim_unproven_role", entry.getServedBy());
        assertEquals("principal_crosses_kind", entry.getDecision().getReasonCode());
        assertEquals(ProvenRolesTest.WRITER, entry.getQuestion().getPrincipal());
        assertEquals("", entry.getQuestion().getCredentialKind(), "nothing meshgate verified");
    }
}
