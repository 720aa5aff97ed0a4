"""The gRPC serving certificate, re-read when Kubernetes swaps the mounted Secret; no restart.

`grpc.dynamic_ssl_server_credentials` asks the fetcher for a configuration before each new TLS
handshake. The fetcher reads the three small files once, compares their digest with the last one and, when
it changed, loads those same bytes (a swap between two reads can never pass for a second change), handing
gRPC a new configuration only when they load cleanly: established connections keep
their session, new ones get the new certificate, and a half-written or mismatched pair keeps the last
good one (logged), so no call is dropped by a rotation.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from meshgate.errors import ConfigError
from meshgate.identity.watcher import digest_of, read_contents

log = logging.getLogger(__name__)


class ReloadingServerCredentials:
    def __init__(self, cert: Path, key: Path, client_ca: Path) -> None:
        self._paths = [cert, key, client_ca]
        self._lock = threading.Lock()
        contents = read_contents(self._paths)
        self._digest = digest_of(self._paths, contents)
        self._not_after: datetime | None = None
        self.reloads = 0  # successful swaps after the first load
        self.failures = 0  # changed files that did not load
        try:
            self._initial = self._load(contents)
        except (OSError, ValueError) as err:
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
            contents = read_contents(self._paths)
            digest = digest_of(self._paths, contents)
            if digest == self._digest:
                return None
            self._digest = digest
            try:
                config = self._load(contents)
            except (OSError, ValueError) as err:
                self.failures += 1
                log.error("serving certificate not rotated, keeping the previous one: %s", err)
                return None
            self.reloads += 1
            log.info("serving certificate rotated; valid until %s", self._not_after)
            return config

    def _load(self, contents: list[bytes | None]) -> grpc.ServerCertificateConfiguration:
        """A configuration from the files' contents (cert, key, client CA) as `read_contents` read them."""
        unreadable = [
            str(path) for path, content in zip(self._paths, contents, strict=True) if content is None
        ]
        if unreadable:
            raise OSError(f"cannot read {', '.join(unreadable)}")
        cert_pem, key_pem, client_ca = cast(list[bytes], contents)
        leaf = _check_pair(cert_pem, key_pem)
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
