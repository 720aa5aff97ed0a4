package dev.meshgate.pulsar;

import dev.meshgate.proto.v1.FrameError;
import dev.meshgate.proto.v1.FrameReply;
import io.grpc.Status;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledFuture;
import java.util.function.Function;

/**
 * One call in flight on a {@link FramesConnection}: the future its caller holds, completed once (by whoever takes
 * the call from its connection: the reply, the deadline or the connection's end), and when run, on the callback
 * executor. A failure is the {@code StatusRuntimeException} the same call over gRPC would have ended with.
 */
final class FramePending<R> extends CompletableFuture<R> implements Runnable {

    /** Marks an UNAVAILABLE the frames connection caused, not the service: the call is asked again over gRPC. */
    private static final class Lost extends Exception {
        Lost(String message) {
            super(message, null, false, false);
        }
    }

    private final FrameReply.ReplyCase expected;
    private final Function<FrameReply, R> answer;
    private volatile ScheduledFuture<?> expiry;
    private R value;
    private Throwable error;

    FramePending(FrameReply.ReplyCase expected, Function<FrameReply, R> answer) {
        this.expected = expected;
        this.answer = answer;
    }

    /** UNAVAILABLE because the frames connection could not carry the call ({@link #lost(Throwable)}). */
    static Status lost(String description) {
        return Status.UNAVAILABLE.withDescription(description).withCause(new Lost(description));
    }

    /** Whether {@code error} is the frames connection's failure, not the service's answer. */
    static boolean lost(Throwable error) {
        return Status.fromThrowable(GrpcErrors.unwrap(error)).getCause() instanceof Lost;
    }

    /** A {@code FrameError} as the status the same call over gRPC would have ended with. */
    static Status status(FrameError error) {
        Status status = Status.fromCodeValue(error.getCode());
        if (status.isOk()) {
            return Status.INTERNAL.withDescription("a frames error with code 0 (OK): " + error.getMessage());
        }
        return status.withDescription(error.getMessage());
    }

    void expiry(ScheduledFuture<?> scheduled) {
        expiry = scheduled;
    }

    /** Taken from its connection: its deadline no longer matters. */
    private void taken() {
        ScheduledFuture<?> scheduled = expiry;
        if (scheduled != null) {
            scheduled.cancel(false);
        }
    }

    /** The outcome, from the service's reply; {@link #run} hands it to the caller. */
    void answer(FrameReply reply) {
        taken();
        if (reply.getReplyCase() == expected) {
            value = answer.apply(reply);
        } else if (reply.hasError()) {
            error = status(reply.getError()).asRuntimeException();
        } else {
            error = Status.INTERNAL.withDescription("the frames reply to a " + expected + " call carried "
                    + reply.getReplyCase()).asRuntimeException();
        }
    }

    /** The outcome: a failure; {@link #run} hands it to the caller. */
    void fail(Status status) {
        taken();
        error = status.asRuntimeException();
    }

    @Override
    public void run() {
        if (error != null) {
            completeExceptionally(error);
        } else {
            complete(value);
        }
    }
}
