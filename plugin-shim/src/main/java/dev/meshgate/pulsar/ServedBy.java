package dev.meshgate.pulsar;

import java.util.Locale;

/**
 * How the shim gave an answer the service did not decide in that call; the closed set of {@code served_by}
 * values of {@code ReportServed} and the service's audit records. Answers the service decided are audited by
 * the service itself and never reported.
 */
enum ServedBy {
    /** A cached service answer of the active revision. */
    SHIM_CACHE,
    /** Joined an identical question already in flight and got its service answer. */
    SHIM_INFLIGHT,
    /** The service could not answer; an earlier allow of the last known revision was repeated. */
    STALE_IF_ERROR,
    /** The role is in broker.conf {@code superUserRoles}: allowed without asking. */
    SHIM_SUPERUSER,
    /** The broker asked about an empty role: denied without asking. */
    SHIM_NO_ROLE,
    /** The service could not decide within the budget: denied. */
    SHIM_ERROR,
    /** A spiffe: or oidc: role no meshgate provider proved on this connection: denied without asking. */
    SHIM_UNPROVEN_ROLE;

    String wire() {
        return name().toLowerCase(Locale.ROOT);
    }
}
