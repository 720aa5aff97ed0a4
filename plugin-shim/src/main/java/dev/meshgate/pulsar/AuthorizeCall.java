package dev.meshgate.pulsar;

import dev.meshgate.proto.v1.AuthorizeBatchRequest;
import dev.meshgate.proto.v1.AuthorizeBatchResponse;
import dev.meshgate.proto.v1.AuthorizeRequest;
import dev.meshgate.proto.v1.AuthorizeResponse;
import java.util.concurrent.CompletableFuture;

/** The Authorize RPCs; the seam between the decision logic and the network. */
interface AuthorizeCall {
    CompletableFuture<AuthorizeResponse> authorize(AuthorizeRequest request);

    /** One decision per request, in order. */
    CompletableFuture<AuthorizeBatchResponse> authorizeBatch(AuthorizeBatchRequest request);
}
