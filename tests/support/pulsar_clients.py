"""Real `pulsar-client` connections for the end-to-end tests, one home for how a test identity connects."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pulsar

from devtools import pki as dev_pki
from devtools.broker import StandaloneBroker


@contextmanager
def tls_client(broker: StandaloneBroker, pki: dev_pki.DevPki, name: str) -> Iterator[pulsar.Client]:
    """A client on the broker's TLS port authenticated by the certificate `name` of the dev PKI."""
    auth = pulsar.AuthenticationTLS(str(pki.cert(name)), str(pki.key(name)))
    instance = pulsar.Client(
        broker.service_url_tls,
        authentication=auth,
        tls_trust_certs_file_path=str(pki.ca_file),
        operation_timeout_seconds=10,
    )
    try:
        yield instance
    finally:
        instance.close()
