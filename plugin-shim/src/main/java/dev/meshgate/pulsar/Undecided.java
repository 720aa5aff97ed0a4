package dev.meshgate.pulsar;

import io.grpc.Status;
import java.util.concurrent.CompletionException;
import javax.naming.AuthenticationException;
import javax.ws.rs.core.Response;
import org.apache.pulsar.broker.authentication.AuthenticationDataSource;
import org.apache.pulsar.broker.web.RestException;

/**
 * What an authorization fails with when meshgate could not decide it (the service unreachable, too slow,
 * overloaded or failing): the broker denies it exactly like an answer of {@code false}, and the message says
 * why and what to check, naming the service's address or socket.
 *
 * <p>An {@link AuthenticationException} because that is the one exception Pulsar's {@code ServerCnx} logs in a
 * single INFO line ("Failed to authenticate: operation=…, reason=…"); any other is logged with a stack trace on
 * every call. Its {@code toString()} is its message: for a producer or a subscription {@code ServerCnx} sends the
 * client {@code getMessage()} of the {@code CompletionException} around it, which is the cause's
 * {@code toString()}. Lookups and partition metadata get a fixed text instead (docs/shim.md, "What clients see").
 */
final class Undecided extends AuthenticationException {

    private static final long serialVersionUID = 1L;

    Undecided(String message) {
        super(message);
    }

    @Override
    public String toString() {
        return getMessage();
    }

    /**
     * The answer; when the service could not decide, a failure that denies it just the same and says why (the
     * broker turns both into the same {@code AuthorizationError}): over HTTP a 503 {@link RestException}, which
     * Pulsar's admin handlers pass through with its status and text instead of a 500 with a stack trace, else an
     * {@code Undecided}.
     */
    static boolean allowedOrFail(Decider.Outcome outcome, AuthenticationDataSource data) {
        if (outcome.failure() == null) {
            return outcome.allowed();
        }
        String message = "meshgate could not decide, so this is denied: " + outcome.failure();
        if (data != null && data.hasDataFromHttp()) {
            throw new CompletionException(new RestException(Response.Status.SERVICE_UNAVAILABLE, message));
        }
        throw new CompletionException(new Undecided(message));
    }

    /**
     * Why the service could not answer, for a client and the broker log: {@code budgetKey} names the setting whose
     * budget was spent.
     */
    static String why(FailureReason reason, Throwable error, MeshgateConfig config, String budgetKey,
                      long budgetMillis) {
        String service = "the meshgate service at " + String.join(" or ", config.targets());
        String status = statusOf(error);
        switch (reason) {
            case SERVICE_UNAVAILABLE:
                return service + " is unreachable (" + status + "): check that the meshgate sidecar is running and"
                        + " listening there (broker.conf " + MeshgateConfig.TARGETS + ")";
            case DEADLINE_EXCEEDED:
                if (status.startsWith("DEADLINE_EXCEEDED: " + MeshgateClient.NO_CONNECTION)) {
                    return service + " is unreachable (no connection within " + budgetMillis + " ms, " + budgetKey
                            + "): check that the meshgate sidecar is running and listening there (broker.conf "
                            + MeshgateConfig.TARGETS + ")";
                }
                return service + " did not answer within " + budgetMillis + " ms (" + budgetKey + ")";
            case OVERLOADED:
                return service + " stayed overloaded (" + status + ") for " + budgetMillis + " ms (" + budgetKey
                        + ")";
            case SERVICE_ERROR:
                return service + " failed the call (" + status + ")";
            default:
                return "the meshgate broker plugin failed (" + status + ")";
        }
    }

    private static String statusOf(Throwable error) {
        Throwable cause = GrpcErrors.unwrap(error);
        if (!(cause instanceof io.grpc.StatusRuntimeException || cause instanceof io.grpc.StatusException)) {
            return String.valueOf(cause);
        }
        Status status = Status.fromThrowable(cause);
        return status.getDescription() == null ? status.getCode().toString()
                : status.getCode() + ": " + status.getDescription();
    }
}
