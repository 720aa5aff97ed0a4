package dev.meshgate.pulsar;

import io.grpc.Status;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;

/**
 * Maps a failed gRPC call to a {@link FailureReason}. Some are asked again ({@link Retrier}); every failure that
 * remains ends in a deny.
 */
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
        Throwable cause = unwrap(error);
        Status status = Status.fromThrowable(cause);
        switch (status.getCode()) {
            case DEADLINE_EXCEEDED:
                return FailureReason.DEADLINE_EXCEEDED;
            case RESOURCE_EXHAUSTED:
                return FailureReason.OVERLOADED;
            case UNAVAILABLE:
                return FailureReason.SERVICE_UNAVAILABLE;
            case UNKNOWN:
                // Status.fromThrowable maps anything that is not a gRPC exception to UNKNOWN.
                return isGrpc(cause) ? FailureReason.SERVICE_ERROR : FailureReason.INTERNAL_ERROR;
            default:
                return FailureReason.SERVICE_ERROR;
        }
    }

    private static boolean isGrpc(Throwable cause) {
        return cause instanceof io.grpc.StatusRuntimeException || cause instanceof io.grpc.StatusException;
    }

    static String describe(Throwable error) {
        Throwable cause = unwrap(error);
        if (!isGrpc(cause)) {
            return "shim error " + cause;
        }
        Status status = Status.fromThrowable(cause);
        String description = status.getDescription();
        return "meshgate service " + status.getCode() + (description == null ? "" : ": " + description);
    }
}
