package dev.meshgate.pulsar;

/** Why the shim refused something on its own, before or instead of a service answer. Feeds metrics and logs. */
public enum FailureReason {
    /** The connection offered no credential this provider understands. */
    NO_CREDENTIAL,
    /** The service answered with a rejection (the code travels in the message). */
    REJECTED,
    /** The service did not answer within the deadline. */
    DEADLINE_EXCEEDED,
    /** The service refused the call because it is overloaded (RESOURCE_EXHAUSTED): asked again after a backoff. */
    OVERLOADED,
    /** No service target could be reached. */
    SERVICE_UNAVAILABLE,
    /** The service failed the call (any other gRPC status). */
    SERVICE_ERROR,
    /** The credential could not be encoded for the service (e.g. a broken certificate object). */
    BAD_CREDENTIAL,
    /** An HTTP request names more than one original principal (a client's header passed on by a Pulsar proxy). */
    AMBIGUOUS_ORIGINAL_PRINCIPAL,
    /** A bug in the shim; the question is denied like any other error. */
    INTERNAL_ERROR
}
