package dev.meshgate.pulsar;

import dev.meshgate.proto.v1.AuthorizeRequest;
import dev.meshgate.proto.v1.AuthorizeResponse;
import java.util.concurrent.CompletableFuture;

/** One Authorize RPC; the seam between the decision logic and the network. */
@FunctionalInterface
interface AuthorizeCall {
    CompletableFuture<AuthorizeResponse> authorize(AuthorizeRequest request);
}
