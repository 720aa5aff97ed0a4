package dev.meshgate.pulsar;

/** An authentication data source that remembers what meshgate's authentication of it established. */
interface AuthenticatedData {

    Authenticated authenticated();
}
