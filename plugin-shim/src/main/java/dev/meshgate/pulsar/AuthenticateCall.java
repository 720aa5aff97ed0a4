package dev.meshgate.pulsar;

import dev.meshgate.proto.v1.AuthenticateBatchRequest;
import dev.meshgate.proto.v1.AuthenticateBatchResponse;
import dev.meshgate.proto.v1.AuthenticateRequest;
import dev.meshgate.proto.v1.AuthenticateResponse;
import io.grpc.Deadline;
import java.util.concurrent.CompletableFuture;

/** The Authentication RPCs; each call, failover included, ends at {@code deadline}. */
interface AuthenticateCall {
    CompletableFuture<AuthenticateResponse> authenticate(AuthenticateRequest request, Deadline deadline);

    /** One response per request, in order. */
    CompletableFuture<AuthenticateBatchResponse> authenticateBatch(AuthenticateBatchRequest request,
                                                                   Deadline deadline);
}
