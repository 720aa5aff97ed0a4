package dev.meshgate.pulsar;

import io.grpc.Status;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;

/** Maps a failed gRPC call to a {@link FailureReason}; every such failure ends in a deny. */
final class GrpcErrors {

    private GrpcErrors() {
    }

    static Throwable unwrap(Throwable error) {
        Throwable current = error;
        while ((current instanceof CompletionException || current instanceof ExecutionException)
                && current.getCause() != null) {
            current = current.getCause();
        }
        return current;
    }

    static FailureReason reason(Throwable error) {
        Status status = Status.fromThrowable(unwrap(error));
        return status.getCode() == Status.Code.DEADLINE_EXCEEDED
                ? FailureReason.DEADLINE_EXCEEDED : FailureReason.SERVICE_ERROR;
    }

    static String describe(Throwable error) {
        Status status = Status.fromThrowable(unwrap(error));
        String description = status.getDescription();
        return "meshgate service " + status.getCode() + (description == null ? "" : ": " + description);
    }
}
