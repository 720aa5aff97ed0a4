package dev.meshgate.pulsar;

/** What an authorization question gets when the service cannot answer it. Never a fresh allow. */
public enum FailMode {
    /** Deny (the default). */
    DENY,
    /**
     * Repeat an allow the service gave for exactly the same question under the last known policy revision,
     * if it is younger than {@code meshgateStaleIfErrorSeconds}; deny otherwise.
     */
    STALE_IF_ERROR
}
