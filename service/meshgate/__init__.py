"""meshgate: identity-aware authorization for Apache Pulsar in a service mesh."""

__version__ = "0.1.0"
