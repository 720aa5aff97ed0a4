package dev.meshgate.pulsar;

import dev.meshgate.proto.v1.AuthorizeBatchRequest;
import dev.meshgate.proto.v1.AuthorizeBatchResponse;
import io.grpc.Deadline;
import java.util.concurrent.CompletableFuture;

/** The AuthorizeBatch RPC; the seam between the decision logic and the network. */
interface AuthorizeCall {
    /** One decision per request, in order; the call, failover included, ends at {@code deadline}. */
    CompletableFuture<AuthorizeBatchResponse> authorizeBatch(AuthorizeBatchRequest request, Deadline deadline);
}
