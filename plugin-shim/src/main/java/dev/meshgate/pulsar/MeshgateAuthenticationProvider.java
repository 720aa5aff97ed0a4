package dev.meshgate.pulsar;

import dev.meshgate.proto.v1.AuthenticateRequest;
import dev.meshgate.proto.v1.AuthenticateResponse;
import dev.meshgate.proto.v1.Credential;
import dev.meshgate.proto.v1.Identity;
import java.io.IOException;
import java.net.SocketAddress;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import javax.naming.AuthenticationException;
import javax.net.ssl.SSLSession;
import javax.servlet.http.HttpServletRequest;
import javax.servlet.http.HttpServletResponse;
import org.apache.pulsar.broker.ServiceConfiguration;
import org.apache.pulsar.broker.authentication.AuthenticationDataSource;
import org.apache.pulsar.broker.authentication.AuthenticationProvider;
import org.apache.pulsar.broker.authentication.AuthenticationState;
import org.apache.pulsar.broker.web.AuthenticationFilter;
import org.apache.pulsar.common.api.AuthData;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Asks meshgate who the caller is. One subclass per Pulsar auth method, because the broker picks the
 * provider by the method name the client sends ("tls" or "token").
 */
public abstract class MeshgateAuthenticationProvider implements AuthenticationProvider {

    private static final Logger LOG = LoggerFactory.getLogger(MeshgateAuthenticationProvider.class);
    /**
     * Credential kinds that name a workload. Only these may log in as a role in {@code superUserRoles}: the
     * authorization provider lets those roles do anything without asking, so an SSO login (or any kind added
     * later) whose principal equals one is refused here (issue #16).
     */
    static final Set<String> WORKLOAD_KINDS =
            Set.of("x509_svid", "linkerd_cert", "l5d_header", "k8s_sa_token", "jwt_svid");

    private MeshgateRuntime runtime;

    @Override
    public void initialize(ServiceConfiguration conf) throws IOException {
        MeshgateConfig config;
        try {
            config = MeshgateConfig.from(conf);
        } catch (IllegalArgumentException e) {
            throw new IOException("meshgate: invalid broker configuration: " + e.getMessage(), e);
        }
        runtime = MeshgateRuntime.acquire(config);
        LOG.info("meshgate {} authentication asks {} (deadline {} ms, up to {} AuthenticateBatch calls of {})",
                getAuthMethodName(), config.targets(), config.authnDeadlineMillis(), config.maxCallsInFlight(),
                config.maxBatchSize());
    }

    /** Uses a runtime built elsewhere instead of {@link #initialize} (tests: a client on in-process channels). */
    void use(MeshgateRuntime shared) {
        runtime = shared;
    }

    /** The credential this provider reads from the connection, if any. */
    protected abstract Optional<Credential> credential(AuthenticationDataSource data) throws Exception;

    @Override
    public CompletableFuture<String> authenticateAsync(AuthenticationDataSource data) {
        return verify(data).thenApply(Identity::getPrincipal);
    }

    /** Verifies the connection's credential; completes exceptionally with {@link AuthenticationException}. */
    CompletableFuture<Identity> verify(AuthenticationDataSource data) {
        Optional<Credential> credential;
        try {
            credential = credential(data);
        } catch (Exception e) {
            return failed(FailureReason.BAD_CREDENTIAL, "credential could not be read: " + e.getMessage());
        }
        if (credential.isEmpty()) {
            return failed(FailureReason.NO_CREDENTIAL, "no " + getAuthMethodName() + " credential presented");
        }
        AuthenticateRequest request = AuthenticateRequest.newBuilder()
                .setCredential(credential.get())
                .setPeer(Credentials.peer(data, getAuthMethodName()))
                .setRequestId(UUID.randomUUID().toString())
                .build();
        long start = System.nanoTime();
        MeshgateRuntime shared = runtime;
        return shared.authenticator().authenticate(request).handle((response, error) -> {
            shared.metrics().authenticationTime(getAuthMethodName(), start);
            Identity identity = identityOf(response, error);
            if (data instanceof AuthenticatedData authenticated) {
                authenticated.authenticated().verified(identity);  // for the audit of what it is asked next
            }
            return identity;
        });
    }

    private Identity identityOf(AuthenticateResponse response, Throwable error) {
        if (error != null) {
            FailureReason reason = GrpcErrors.reason(error);
            MeshgateConfig config = runtime.config();
            throw new CompletionException(authError(reason, Undecided.why(reason, error, config,
                    MeshgateConfig.AUTHN_DEADLINE_MILLIS, config.authnDeadlineMillis())));
        }
        if (response.hasIdentity()) {
            Identity identity = response.getIdentity();
            if (runtime.config().superUserRoles().contains(identity.getPrincipal())
                    && !WORKLOAD_KINDS.contains(identity.getCredentialKind())) {
                throw new CompletionException(authError(FailureReason.REJECTED, "principal_crosses_kind: a "
                        + identity.getCredentialKind() + " login may not be " + identity.getPrincipal()
                        + ", a super-user role (superUserRoles) that only a workload credential may carry"));
            }
            runtime.metrics().authentication(getAuthMethodName(), "ok");
            return identity;
        }
        String why = response.getRejection().getCode() + ": " + response.getRejection().getReason();
        throw new CompletionException(authError(FailureReason.REJECTED, why));
    }

    private <T> CompletableFuture<T> failed(FailureReason reason, String message) {
        return CompletableFuture.failedFuture(authError(reason, message));
    }

    private AuthenticationException authError(FailureReason reason, String message) {
        incrementFailureMetric(reason);
        if (runtime != null) {
            runtime.metrics().authentication(getAuthMethodName(), reason.name().toLowerCase(Locale.ROOT));
            if (reason != FailureReason.REJECTED && reason != FailureReason.NO_CREDENTIAL) {
                runtime.metrics().error("authenticate", reason);
            }
        }
        return new AuthenticationException("meshgate " + getAuthMethodName() + " authentication failed ("
                + reason.name().toLowerCase(Locale.ROOT) + "): " + message);
    }

    /**
     * The header a Pulsar proxy names its client with. A proxy (4.0.8 seen) appends its own value to the
     * client's request headers, and the broker believes the first: a client sending this header through the
     * proxy would be taken for whoever it names. More than one value is refused here, before the broker reads it.
     */
    static final String ORIGINAL_PRINCIPAL_HEADER = "X-Original-Principal";

    /**
     * Pulsar's default, but over a {@link MeshgateHttpData}, so the authorization questions of this request can
     * name the credential kind it was verified as.
     */
    @Override
    public boolean authenticateHttpRequest(HttpServletRequest request, HttpServletResponse response)
            throws Exception {
        requireOneOriginalPrincipal(request);
        MeshgateHttpData data = new MeshgateHttpData(request, getAuthMethodName());
        String role;
        try {
            role = authenticateAsync(data).get();
        } catch (ExecutionException e) {
            if (e.getCause() instanceof AuthenticationException rejected) {
                throw rejected;
            }
            throw new AuthenticationException("meshgate " + getAuthMethodName()
                    + " authentication failed: " + e.getCause());
        }
        request.setAttribute(AuthenticationFilter.AuthenticatedRoleAttributeName, role);
        request.setAttribute(AuthenticationFilter.AuthenticatedDataAttributeName, data);
        return true;
    }

    @Override
    public AuthenticationState newHttpAuthState(HttpServletRequest request) throws AuthenticationException {
        requireOneOriginalPrincipal(request);
        return AuthenticationProvider.super.newHttpAuthState(request);
    }

    private void requireOneOriginalPrincipal(HttpServletRequest request) throws AuthenticationException {
        List<String> values = Collections.list(request.getHeaders(ORIGINAL_PRINCIPAL_HEADER));
        if (!atMostOneOriginalPrincipal(values)) {
            throw authError(FailureReason.AMBIGUOUS_ORIGINAL_PRINCIPAL, values.size() + " " + ORIGINAL_PRINCIPAL_HEADER
                    + " values: a client named a principal through the proxy; refused");
        }
    }

    /** True when the header values name at most one principal (comma-joined values count each part). */
    static boolean atMostOneOriginalPrincipal(List<String> values) {
        long named = values.stream().flatMap(v -> List.of(v.split(",", -1)).stream()).count();
        return named <= 1;
    }

    @Override
    public AuthenticationState newAuthState(AuthData authData, SocketAddress remoteAddress, SSLSession sslSession) {
        return new MeshgateAuthenticationState(this, remoteAddress, sslSession);
    }

    @Override
    public void close() {
        MeshgateRuntime.release(runtime);
        runtime = null;
    }
}
