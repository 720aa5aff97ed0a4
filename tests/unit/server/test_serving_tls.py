"""`ReloadingServerCredentials`: a rotation is loaded from the very bytes whose digest changed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from meshgate.server.serving_tls import ReloadingServerCredentials

from devtools import pki as dev_pki
from devtools.devca import LeafSpec

SERVING = LeafSpec(dns=["localhost"], common_name="localhost")


def _publish(root: Path, version: int, cert_pem: bytes, key_pem: bytes) -> None:
    """As a Kubernetes Secret volume: write `..vN`, then swap the `..data` symlink in one rename."""
    directory = root / f"..v{version}"
    directory.mkdir()
    (directory / "tls.crt").write_bytes(cert_pem)
    (directory / "tls.key").write_bytes(key_pem)
    (root / "..data_tmp").symlink_to(directory.name)
    os.replace(root / "..data_tmp", root / "..data")


def test_a_swap_between_reading_the_certificate_and_the_key_reloads_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pki = dev_pki.create(tmp_path / "pki")
    first, second = pki.ca.issue(SERVING), pki.ca.issue(SERVING)
    root = tmp_path / "secret"
    root.mkdir()
    for name in ("tls.crt", "tls.key"):
        (root / name).symlink_to(Path("..data") / name)
    _publish(root, 1, first.cert_pem(), first.key_pem())
    credentials = ReloadingServerCredentials(root / "tls.crt", root / "tls.key", pki.ca_file)

    read_bytes = Path.read_bytes
    swap_after_certificate = [True]

    def torn(path: Path) -> bytes:
        data = read_bytes(path)
        if path == root / "tls.crt" and swap_after_certificate:
            swap_after_certificate.clear()  # once: the rotation lands between this read and the key's
            _publish(root, 2, second.cert_pem(), second.key_pem())
        return data

    monkeypatch.setattr(Path, "read_bytes", torn)
    assert credentials._fetch() is None, "old certificate with the new key: kept the last good pair"
    assert (credentials.failures, credentials.reloads) == (1, 0)
    assert credentials._fetch() is not None, "the finished rotation"
    assert credentials._fetch() is None, "nothing changed since"
    assert (credentials.failures, credentials.reloads) == (1, 1)


def test_an_unreadable_file_keeps_the_last_good_pair_and_names_it(tmp_path: Path) -> None:
    pki = dev_pki.create(tmp_path / "pki")
    leaf = pki.ca.issue(SERVING)
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert.write_bytes(leaf.cert_pem())
    key.write_bytes(leaf.key_pem())
    credentials = ReloadingServerCredentials(cert, key, pki.ca_file)
    key.unlink()
    assert credentials._fetch() is None
    assert (credentials.failures, credentials.reloads) == (1, 0)
