"""The bundle watcher: Kubernetes `..data` symlink swaps, content-hash re-checks, start/stop."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from meshgate.identity import FileTrustBundles, ReloadStatus
from meshgate.identity.watcher import BundleWatcher, content_digest, watch_dirs

from devtools.devca import DevCA, pem_bundle

from .helpers import NOW


def k8s_volume(tmp_path: Path, version: str, ca: DevCA) -> Path:
    """Lay out a mounted Secret the way kubelet does: ca.pem -> ..data/ca.pem, ..data -> ..<version>."""
    target = tmp_path / f"..{version}"
    target.mkdir()
    (target / "ca.pem").write_bytes(pem_bundle([ca.cert]))
    staging = tmp_path / "..data_tmp"
    staging.symlink_to(target.name)
    os.replace(staging, tmp_path / "..data")  # the atomic swap kubelet does
    if not (tmp_path / "ca.pem").is_symlink():
        (tmp_path / "ca.pem").symlink_to("..data/ca.pem")
    return tmp_path / "ca.pem"


def test_check_reloads_after_symlink_swap_only(tmp_path: Path) -> None:
    first, second = DevCA("first", now=NOW), DevCA("second", now=NOW)
    path = k8s_volume(tmp_path, "v1", first)
    bundles = FileTrustBundles({"example.org": [path]})
    watcher = BundleWatcher(bundles)
    assert watcher.check() is None  # nothing changed
    k8s_volume(tmp_path, "v2", second)
    status = watcher.check()
    assert status is not None and status.changed and status.generation == 1
    assert list(bundles.x509_authorities("example.org")) == [second.cert]
    assert watcher.check() is None


def test_watch_dirs_are_the_mount_not_the_link_target(tmp_path: Path) -> None:
    path = k8s_volume(tmp_path, "v1", DevCA(now=NOW))
    assert watch_dirs([path, path]) == [tmp_path]


def test_digest_tracks_content_and_absence(tmp_path: Path) -> None:
    path = tmp_path / "x.pem"
    missing = content_digest([path])
    path.write_bytes(b"")
    empty = content_digest([path])
    path.write_bytes(b"a")
    assert len({missing, empty, content_digest([path])}) == 3


def test_running_watcher_sees_a_symlink_swap(tmp_path: Path) -> None:
    path = k8s_volume(tmp_path, "v1", DevCA("first", now=NOW))
    bundles = FileTrustBundles({"example.org": [path]})
    seen: list[ReloadStatus] = []
    # The notifier reacts in well under a second; the 5 s re-check by hash is the fallback.
    watcher = BundleWatcher(bundles, recheck_seconds=5, debounce_ms=50, on_reload=seen.append)
    watcher.start()
    try:
        time.sleep(0.2)
        second = DevCA("second", now=NOW)
        k8s_volume(tmp_path, "v2", second)
        deadline = time.monotonic() + 10
        while not seen and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        watcher.stop()
    assert seen and seen[-1].changed
    assert list(bundles.x509_authorities("example.org")) == [second.cert]


def test_start_twice_is_an_error_and_stop_is_idempotent(tmp_path: Path) -> None:
    path = k8s_volume(tmp_path, "v1", DevCA(now=NOW))
    watcher = BundleWatcher(FileTrustBundles({"example.org": [path]}))
    watcher.start()
    try:
        with pytest.raises(RuntimeError, match="already started"):
            watcher.start()
    finally:
        watcher.stop()
    watcher.stop()
