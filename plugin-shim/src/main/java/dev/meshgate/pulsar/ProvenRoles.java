package dev.meshgate.pulsar;

import dev.meshgate.proto.v1.Resource;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import org.apache.pulsar.broker.authentication.AuthenticationDataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Principals are unforgeable across credential kinds in the broker too: a role in the {@code spiffe} or
 * {@code sso} namespace ({@link PrincipalNamespace}) is honoured only when one of meshgate's authentication
 * providers proved it. Another provider loaded beside meshgate's (Pulsar's {@code AuthenticationProviderToken},
 * basic auth, ...) hands the broker its role as a bare string; unchecked, a token of that provider whose subject
 * spells a workload's SPIFFE ID or an {@code oidc:} principal would be decided as that workload or SSO user, and
 * allowed everything if it spells a role in {@code superUserRoles}.
 *
 * <p>The proof travels on the authentication data the broker passes with every question: meshgate's providers
 * hand the broker an {@link AuthenticatedData} that remembers the identity the service verified. It is the
 * binary connection's data, the original client's behind a Pulsar proxy when the broker authenticated that
 * client's credential ({@code authenticateOriginalAuthData=true}), or an HTTP request's; a consumer's arrives
 * wrapped in an {@link AuthenticationDataSubscription}. A role is proven when that data was verified as the role
 * itself, or as one of the broker's {@code proxyRoles}: Pulsar lets only a proxy role name another principal
 * (the original principal, asked with the proxy's own data when the broker has no credential of the client's).
 * Anything else (another provider's data, or none) is refused without asking: {@code principal_crosses_kind}.
 * Plain roles are not checked: any provider may produce one.
 */
final class ProvenRoles {

    private static final Logger LOG = LoggerFactory.getLogger(ProvenRoles.class);

    private final Set<String> proxyRoles;
    private final ShimMetrics metrics;

    ProvenRoles(Set<String> proxyRoles, ShimMetrics metrics) {
        this.proxyRoles = proxyRoles == null ? Set.of() : Set.copyOf(proxyRoles);
        this.metrics = metrics;
    }

    /** Null when the service may be asked about {@code role} on {@code data}; else the refusal, counted and logged. */
    CompletableFuture<Boolean> refusal(String role, String action, Resource resource, AuthenticationDataSource data) {
        String why = crossing(role, data);
        if (why == null) {
            return null;
        }
        long start = System.nanoTime();
        LOG.warn("meshgate: denying {} {} for {}: principal_crosses_kind: {}", action, Actions.describe(resource),
                role, why);
        metrics.decision(false, DecisionReason.PRINCIPAL_CROSSES_KIND, "shortcut", start);
        return CompletableFuture.completedFuture(false);
    }

    /** Why {@code role} cannot be honoured on {@code data}, or null when it can. */
    String crossing(String role, AuthenticationDataSource data) {
        PrincipalNamespace namespace = PrincipalNamespace.of(role == null ? "" : role);
        if (namespace == PrincipalNamespace.PLAIN) {
            return null;
        }
        Authenticated proof = Authenticated.of(data);
        if (proof != null && (provedAs(proof, role) || proxyRoles.stream().anyMatch(p -> provedAs(proof, p)))) {
            return null;
        }
        return role + " is in the " + namespace.label() + " namespace, which only meshgate's authentication"
                + " providers produce, and " + (proof == null
                ? "no meshgate provider authenticated it here (another authentication provider did, or none)"
                : "meshgate authenticated this connection as another principal, not as one of proxyRoles");
    }

    /** Whether the service verified {@code proof}'s credential as {@code role} (an empty kind proves nothing). */
    private static boolean provedAs(Authenticated proof, String role) {
        return !proof.credentialKindOf(role).isEmpty();
    }
}
