"""Development and test tooling, not shipped: a dev PKI, a real Pulsar broker, meshgate as a process.

`make run` and the test suites use it.
"""
