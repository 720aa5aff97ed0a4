package dev.meshgate.pulsar;

import java.util.Locale;

/** Where an authorization answer came from; the closed set of {@code reason} labels on the decision metric. */
public enum DecisionReason {
    /** The role is in broker.conf {@code superUserRoles}: allowed without asking. */
    SUPERUSER,
    /** The broker asked about an empty role: denied without asking. */
    NO_ROLE,
    /**
     * A {@code spiffe:} or {@code oidc:} role that no meshgate authentication provider proved on the connection
     * (another provider's role): denied without asking ({@link ProvenRoles}).
     */
    PRINCIPAL_CROSSES_KIND,
    /** The service answered. */
    POLICY,
    /** A cached answer of the active policy revision. */
    CACHED,
    /** The service could not answer; an allow of the last known revision was repeated (stale-if-error). */
    STALE_IF_ERROR,
    /** The service did not answer within the deadline: denied. */
    DEADLINE_EXCEEDED,
    /** The service stayed overloaded (RESOURCE_EXHAUSTED) for the whole budget: denied. */
    OVERLOADED,
    /** No service target could be reached: denied. */
    SERVICE_UNAVAILABLE,
    /** The service failed the call: denied. */
    SERVICE_ERROR,
    /** A bug in the shim: denied. */
    INTERNAL_ERROR;

    static DecisionReason of(FailureReason failure) {
        switch (failure) {
            case DEADLINE_EXCEEDED:
                return DEADLINE_EXCEEDED;
            case OVERLOADED:
                return OVERLOADED;
            case SERVICE_UNAVAILABLE:
                return SERVICE_UNAVAILABLE;
            case SERVICE_ERROR:
                return SERVICE_ERROR;
            default:
                return INTERNAL_ERROR;
        }
    }

    String label() {
        return name().toLowerCase(Locale.ROOT);
    }
}
