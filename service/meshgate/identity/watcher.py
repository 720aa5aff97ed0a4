"""Reload `FileTrustBundles` when their files change: a thin adapter over `watchfiles`.

Kubernetes mounts Secrets and ConfigMaps as `dir/ca.pem -> ..data/ca.pem` and updates them by pointing the
`..data` symlink at a new directory (an atomic rename). Watching the file itself misses that, so the watcher
watches each file's parent directory, and reloads only when the content it reads through the symlinks has
changed (sha256); a periodic re-check by hash catches anything the notifier misses.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import watchfiles

from meshgate.identity.bundles import ReloadStatus
from meshgate.identity.filebundles import FileTrustBundles

log = logging.getLogger(__name__)


class BundleWatcher:
    """Runs a daemon thread that calls `bundles.reload()` on change; `start()` / `stop()` it."""

    def __init__(
        self,
        bundles: FileTrustBundles,
        *,
        recheck_seconds: float = 60.0,
        debounce_ms: int = 200,
        on_reload: Callable[[ReloadStatus], None] | None = None,
    ) -> None:
        self._bundles = bundles
        self._recheck_ms = max(1, int(recheck_seconds * 1000))
        self._debounce_ms = debounce_ms
        self._on_reload = on_reload
        self._digest = content_digest(bundles.paths())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("identity: BundleWatcher already started")
        self._thread = threading.Thread(target=self._run, name="meshgate-bundle-watcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def check(self) -> ReloadStatus | None:
        """Reload when the files' content changed since the last check; None when it did not."""
        digest = content_digest(self._bundles.paths())
        if digest == self._digest:
            return None
        self._digest = digest
        status = self._bundles.reload()
        if status.last_error:
            log.warning("trust bundle reload kept the last good bundles: %s", status.last_error)
        if self._on_reload is not None:
            self._on_reload(status)
        return status

    def _run(self) -> None:
        changes = watchfiles.watch(
            *watch_dirs(self._bundles.paths()),
            watch_filter=None,
            debounce=self._debounce_ms,
            stop_event=self._stop,
            rust_timeout=self._recheck_ms,
            yield_on_timeout=True,
            raise_interrupt=False,
        )
        for _ in changes:  # a change anywhere in the directories, or a re-check timeout
            try:
                self.check()
            except Exception:  # keep watching: the next change may fix it
                log.exception("trust bundle re-check failed")


def watch_dirs(paths: Iterable[Path]) -> list[Path]:
    """The parent directories to watch (not the files: a `..data` swap replaces them)."""
    return sorted({p.absolute().parent for p in paths})


def content_digest(paths: Iterable[Path]) -> bytes:
    """sha256 of every file's content read through symlinks; a missing file hashes as a marker."""
    paths = list(paths)
    return digest_of(paths, read_contents(paths))


def read_contents(paths: Iterable[Path]) -> list[bytes | None]:
    """Each file's content read through symlinks, None where it cannot be read."""
    contents: list[bytes | None] = []
    for path in paths:
        try:
            contents.append(path.read_bytes())
        except OSError:
            contents.append(None)
    return contents


def digest_of(paths: Iterable[Path], contents: Iterable[bytes | None]) -> bytes:
    """`content_digest` of contents already read: a caller that digests and then uses the same bytes cannot
    mistake a read torn by a swap between two files for a change that loads."""
    digest = hashlib.sha256()
    for path, content in zip(paths, contents, strict=True):
        digest.update(str(path).encode() + b"\0")
        if content is None:
            digest.update(b"-")
            continue
        digest.update(b"+" + len(content).to_bytes(8, "big") + content)
    return digest.digest()
