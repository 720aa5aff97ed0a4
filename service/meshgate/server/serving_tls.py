"""The gRPC serving certificate, re-read when Kubernetes swaps the mounted Secret; no restart.

`grpc.dynamic_ssl_server_credentials` asks the fetcher for a configuration before each new TLS
handshake. The fetcher compares the files' content digest (one stat-and-read of three small files) and
hands gRPC a new configuration only when it changed and loads cleanly: established connections keep
their session, new ones get the new certificate, and a half-written or mismatched pair keeps the last
good one (logged), so no call is dropped by a rotation.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from meshgate.errors import ConfigError
from meshgate.identity.watcher import content_digest

log = logging.getLogger(__name__)


class ReloadingServerCredentials:
    def __init__(self, cert: Path, key: Path, client_ca: Path) -> None:
        self._paths = [cert, key, client_ca]
        self._cert, self._key, self._client_ca = cert, key, client_ca
        self._lock = threading.Lock()
        self._digest = content_digest(self._paths)
        self._not_after: datetime | None = None
        self.reloads = 0  # successful swaps after the first load
        self.failures = 0  # changed files that did not load
        try:
            self._initial = self._load()
        except ValueError as err:
            raise ConfigError(f"grpc.tls_cert/grpc.tls_key: {err}") from err

    def credentials(self) -> grpc.ServerCredentials:
        # grpc's stubs say the fetcher returns a configuration; returning None (keep the current one) is
        # the documented way to say "unchanged".
        fetch: Any = self._fetch
        return grpc.dynamic_ssl_server_credentials(self._initial, fetch, require_client_authentication=True)

    def not_after(self) -> datetime | None:
        """Expiry of the certificate served to new connections now."""
        return self._not_after

    def _fetch(self) -> grpc.ServerCertificateConfiguration | None:
        """gRPC's fetcher: a new configuration when the files changed and load, else None (keep)."""
        with self._lock:
            digest = content_digest(self._paths)
            if digest == self._digest:
                return None
            self._digest = digest
            try:
                config = self._load()
            except (OSError, ValueError) as err:
                self.failures += 1
                log.error("serving certificate not rotated, keeping the previous one: %s", err)
                return None
            self.reloads += 1
            log.info("serving certificate rotated; valid until %s", self._not_after)
            return config

    def _load(self) -> grpc.ServerCertificateConfiguration:
        cert_pem, key_pem = self._cert.read_bytes(), self._key.read_bytes()
        leaf = _check_pair(cert_pem, key_pem)
        client_ca = self._client_ca.read_bytes()
        config = grpc.ssl_server_certificate_configuration([(key_pem, cert_pem)], root_certificates=client_ca)
        self._not_after = leaf.not_valid_after_utc
        return config


def _check_pair(cert_pem: bytes, key_pem: bytes) -> x509.Certificate:
    """The leaf certificate, once it is known to belong to the key (a rotation may be half written)."""
    try:
        leaf = x509.load_pem_x509_certificates(cert_pem)[0]
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, IndexError, TypeError) as err:
        raise ValueError(f"cannot load the serving certificate or key: {err}") from err
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    leaf_public = leaf.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if public != leaf_public:
        raise ValueError("the serving certificate does not match the key")
    return leaf
