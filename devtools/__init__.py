"""Development and test tooling: a dev PKI, a real standalone Pulsar broker, the meshgate service as a process.

Not part of the shipped package; `make run` and the test suites use it.
"""
