package dev.meshgate.pulsar;

import dev.meshgate.proto.v1.AuthorizeBatchRequest;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Exercises the shim's gRPC client path while the broker starts, so the JIT has compiled it before the
 * clients of a restart reconnect. Measured (bench/findings.md 15): right after a restart the broker spent
 * seconds of CPU running the shaded gRPC/Netty/protobuf code interpreted and compiling it, inside the
 * reconnect storm. Each call is an empty {@code AuthorizeBatch}: the service decides nothing and writes no
 * audit record. A few calls run at a time; the first failure ends the warm-up (the service is not up yet;
 * nothing depends on it).
 */
final class ClientWarmup {

    private static final Logger LOG = LoggerFactory.getLogger(ClientWarmup.class);
    static final int IN_FLIGHT = 4;
    private static final AuthorizeBatchRequest EMPTY = AuthorizeBatchRequest.getDefaultInstance();

    private final AuthorizeCall service;
    private final int calls;
    private final AtomicInteger started = new AtomicInteger();
    private final AtomicInteger answered = new AtomicInteger();
    private final CompletableFuture<Integer> done = new CompletableFuture<>();
    private final long startNanos = System.nanoTime();

    private ClientWarmup(AuthorizeCall service, int calls) {
        this.service = service;
        this.calls = calls;
    }

    /** Starts {@code calls} empty calls in the background; completes with how many were answered. */
    static CompletableFuture<Integer> start(AuthorizeCall service, int calls) {
        ClientWarmup warmup = new ClientWarmup(service, calls);
        if (calls <= 0) {
            warmup.done.complete(0);
        }
        for (int i = 0; i < Math.min(IN_FLIGHT, calls); i++) {
            warmup.next();
        }
        return warmup.done;
    }

    private void next() {
        if (done.isDone()) {
            return;
        }
        if (started.getAndIncrement() >= calls) {
            return;
        }
        try {
            service.authorizeBatch(EMPTY).whenComplete((response, error) -> {
                if (error != null) {
                    finish("stopped: " + GrpcErrors.describe(error));
                } else if (answered.incrementAndGet() >= calls) {
                    finish("done");
                } else {
                    next();
                }
            });
        } catch (RuntimeException e) {
            finish("stopped: " + e);
        }
    }

    private void finish(String how) {
        if (done.complete(answered.get())) {
            LOG.info("meshgate: client warm-up {} after {} of {} calls in {} ms", how, answered.get(), calls,
                    (System.nanoTime() - startNanos) / 1_000_000);
        }
    }
}
