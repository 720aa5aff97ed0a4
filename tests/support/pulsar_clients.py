"""Real `pulsar-client` connections for the end-to-end tests, one home for how a test identity connects."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pulsar

from devtools import pki as dev_pki
from devtools.broker import StandaloneBroker


@contextmanager
def tls_client(broker: StandaloneBroker, pki: dev_pki.DevPki, name: str) -> Iterator[pulsar.Client]:
    """A client on the broker's TLS port authenticated by the certificate `name` of the dev PKI."""
    with tls_client_files(broker, pki.ca_file, pki.cert(name), pki.key(name)) as instance:
        yield instance


@contextmanager
def tls_client_files(
    broker: StandaloneBroker,
    ca_file: Path,
    cert: Path,
    key: Path,
    *,
    operation_timeout_seconds: int = 10,
    connection_timeout_ms: int = 10_000,
) -> Iterator[pulsar.Client]:
    """A client on the TLS port with the certificate chain and key in these files; the client reads them
    again for every new connection, so a rewritten pair (an SVID rotation) is used on the next reconnect."""
    instance = pulsar.Client(
        broker.service_url_tls,
        authentication=pulsar.AuthenticationTLS(str(cert), str(key)),
        tls_trust_certs_file_path=str(ca_file),
        operation_timeout_seconds=operation_timeout_seconds,
        connection_timeout_ms=connection_timeout_ms,
    )
    try:
        yield instance
    finally:
        instance.close()


@contextmanager
def token_client(broker: StandaloneBroker, token: str | Callable[[], str]) -> Iterator[pulsar.Client]:
    """A client on the plain port presenting `token` (auth method `token`); a callable is asked again for
    every token the client sends (a renewal when the broker challenges an expired one)."""
    instance = pulsar.Client(
        broker.service_url,
        authentication=pulsar.AuthenticationToken(token),
        operation_timeout_seconds=5,
        connection_timeout_ms=5000,
    )
    try:
        yield instance
    finally:
        instance.close()
