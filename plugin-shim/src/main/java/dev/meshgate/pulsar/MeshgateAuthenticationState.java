package dev.meshgate.pulsar;

import dev.meshgate.proto.v1.Identity;
import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicLong;
import javax.naming.AuthenticationException;
import javax.net.ssl.SSLSession;
import org.apache.pulsar.broker.authentication.AuthenticationDataSource;
import org.apache.pulsar.broker.authentication.AuthenticationState;
import org.apache.pulsar.common.api.AuthData;

/**
 * Per-connection state on the binary protocol. It reports itself expired when the credential expires,
 * which is what makes Pulsar's authenticationRefreshCheckSeconds challenge the client (the default
 * one-stage state never expires, so sessions would outlive their credentials).
 */
final class MeshgateAuthenticationState implements AuthenticationState {

    private static final AtomicLong IDS = new AtomicLong();

    private final MeshgateAuthenticationProvider provider;
    private final SocketAddress remoteAddress;
    private final SSLSession sslSession;
    private final long stateId = IDS.incrementAndGet();
    private volatile String role;
    private volatile AuthenticationDataSource dataSource;
    private volatile long expiresAtMillis;

    MeshgateAuthenticationState(MeshgateAuthenticationProvider provider, SocketAddress remoteAddress,
                                SSLSession sslSession) {
        this.provider = provider;
        this.remoteAddress = remoteAddress;
        this.sslSession = sslSession;
    }

    @Override
    public CompletableFuture<AuthData> authenticateAsync(AuthData authData) {
        String command = authData == null || authData.getBytes() == null
                ? null : new String(authData.getBytes(), StandardCharsets.UTF_8);
        MeshgateCommandData data =
                new MeshgateCommandData(command, remoteAddress, sslSession, provider.getAuthMethodName());
        return provider.verify(data).thenApply(identity -> {
            accept(identity, data);
            return null;
        });
    }

    private void accept(Identity identity, AuthenticationDataSource data) {
        dataSource = data;
        expiresAtMillis = identity.getExpiresAtUnixMs();
        role = identity.getPrincipal();
    }

    @Override
    @Deprecated
    public AuthData authenticate(AuthData authData) throws AuthenticationException {
        try {
            return authenticateAsync(authData).get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AuthenticationException("meshgate: interrupted while authenticating");
        } catch (ExecutionException | CompletionException e) {
            Throwable cause = GrpcErrors.unwrap(e);
            if (cause instanceof AuthenticationException authError) {
                throw authError;
            }
            throw new AuthenticationException("meshgate: " + cause.getMessage());
        }
    }

    @Override
    public String getAuthRole() throws AuthenticationException {
        String current = role;
        if (current == null) {
            throw new AuthenticationException("meshgate: connection is not authenticated");
        }
        return current;
    }

    @Override
    public AuthenticationDataSource getAuthDataSource() {
        return dataSource;
    }

    @Override
    @Deprecated
    public boolean isComplete() {
        return role != null;
    }

    @Override
    public long getStateId() {
        return stateId;
    }

    @Override
    public boolean isExpired() {
        long expires = expiresAtMillis;
        return expires > 0 && System.currentTimeMillis() >= expires;
    }
}
