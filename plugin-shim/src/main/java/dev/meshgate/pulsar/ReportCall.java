package dev.meshgate.pulsar;

import dev.meshgate.proto.v1.ReportServedRequest;
import dev.meshgate.proto.v1.ReportServedResponse;
import io.grpc.Deadline;
import java.util.concurrent.CompletableFuture;

/** The service's {@code ReportServed}: how the shim hands its own answers to the audit trail. */
@FunctionalInterface
interface ReportCall {

    CompletableFuture<ReportServedResponse> reportServed(ReportServedRequest request, Deadline deadline);
}
