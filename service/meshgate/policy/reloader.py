"""Keep a PolicyStore up to date with a policy folder: watch, validate, test, then swap.

A new revision is swapped in only when it compiles AND its `*_test.yaml` suites pass; otherwise the
last good snapshot keeps serving and `status` records the error. The revision is a digest of the content
(`meshgate.policy.revision`), so any change of a policy file, committed or not, is a new revision, and
the same content is the same revision. Changes are noticed with
`watchfiles` (on the folder, and on its parent when the folder is a symlink, as git-sync makes it),
and by a periodic check, because a Kubernetes ConfigMap or git-sync symlink swap can leave a watch
on a deleted directory. Every check compares a content hash, so spurious events cost one read.

    reloader = PolicyReloader(Path("/policies"), store, superusers={"broker"})
    reloader.start()   # a thread of its own: loads at once, then watches
    ...
    reloader.stop(); reloader.join(5)
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from watchfiles import watch

from meshgate import heap
from meshgate.clock import Clock, SystemClock
from meshgate.errors import PolicyError
from meshgate.policy.engine import PolicySnapshot
from meshgate.policy.loader import PolicySource, compile_source, read_content_hash, read_source
from meshgate.policy.revision import describe
from meshgate.policy.store import PolicyStore
from meshgate.policy.testing import load_suites, run_suites
from meshgate.principal.linkerd import LinkerdNaming

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReloadStatus:
    """For readiness, metrics and the CLI. Replaced as a whole, never mutated."""

    revision: str = ""  # of the snapshot serving now ("" before the first success)
    content_hash: str = ""
    commit: str = ""  # git commit the serving snapshot was loaded at ("" outside git)
    last_success_at: datetime | None = None
    last_attempt_at: datetime | None = None
    last_error: str = ""  # of the latest attempt; "" after a success
    failed_revision: str = ""  # the revision that was refused, if the latest attempt failed
    failed_commit: str = ""  # and the commit it was read at
    failures: int = 0  # failed attempts since start
    tests_passed: int = 0  # policy tests run for the serving revision


class PolicyReloader:
    def __init__(
        self,
        path: Path,
        store: PolicyStore,
        *,
        superusers: Iterable[str] = (),
        naming: LinkerdNaming | None = None,
        clock: Clock | None = None,
        poll_interval: float = 10.0,
        debounce_ms: int = 300,
    ) -> None:
        self._path, self._store = Path(path), store
        self._superusers, self._naming = frozenset(superusers), naming
        self._clock = clock or SystemClock()
        self._poll_ms, self._debounce_ms = int(poll_interval * 1000), debounce_ms
        self._status = ReloadStatus()
        self._refused: tuple[str, str, str] = ("", "", "")  # (content hash, revision, commit) being built
        self._refused_hash = ""  # content hash of the last refused revision
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def status(self) -> ReloadStatus:
        return self._status

    def reload_now(self) -> bool:
        """Check the folder once; True if a new snapshot was swapped in. Never raises PolicyError."""
        with self._lock:
            for _ in range(3):  # the folder may change while it is read; try again a few times
                try:
                    return self._attempt()
                except PolicyError as exc:
                    if exc.code != "policy_changed":
                        self._fail(exc)
                        return False
            self._refused = ("", *self._refused[1:])  # no verdict on any one content: try again next time
            self._fail(PolicyError(f"{self._path}: policy folder keeps changing while it is loaded"))
            return False

    def _attempt(self) -> bool:
        self._refused = ("", "", "")
        # read and compiled against one serving snapshot: the texts of its unchanged files are not kept
        serving = self._store.get()
        source = read_source(self._path, previous=serving, naming=self._naming)
        if source.content_hash == self._status.content_hash and self._status.last_error:
            # the folder is back at the serving revision (a refused commit was reverted): nothing is refused
            self._status = replace(
                self._status, last_attempt_at=self._clock.now(), last_error="", failed_revision="",
                failed_commit="",
            )  # fmt: skip
            self._refused_hash = (
                ""  # so the refused content, if it comes back, is refused (and reported) again
            )
            return False
        if source.content_hash in (self._status.content_hash, self._refused_hash):
            return False
        snapshot, tests = self._build(source, serving)
        expected = source.content_hash
        del source  # its texts go before the folder is read again: a reload holds them once
        if read_content_hash(self._path) != expected:
            raise PolicyError("policy folder changed while loading", code="policy_changed")
        heap.return_free_heap()  # before the swap: readers keep deciding on the serving snapshot meanwhile
        self._store.swap(snapshot)
        now = self._clock.now()
        self._status = ReloadStatus(
            snapshot.revision,
            snapshot.content_hash,
            snapshot.commit,
            now,
            now,
            failures=self._status.failures,
            tests_passed=tests,
        )
        self._refused_hash = ""
        _log.info(
            "policy revision %s active: %d rules, %d tests passed",
            describe(snapshot.revision, snapshot.commit),
            len(snapshot.rules),
            tests,
        )
        return True

    def _build(self, source: PolicySource, serving: PolicySnapshot | None) -> tuple[PolicySnapshot, int]:
        revision = source.revision(self._superusers, self._naming)
        self._refused = (source.content_hash, revision, source.commit)
        snapshot = compile_source(source, superusers=self._superusers, naming=self._naming, previous=serving)
        report = run_suites(snapshot, load_suites(source))
        if not report.ok:
            failed = [
                f"{r.test.where}: {r.suite}/{r.test.name}: {r.failure}" for r in report.results if r.failure
            ]
            header = (
                f"{report.failed} policy test(s) failed in revision {describe(revision, source.commit)}:\n"
            )
            raise PolicyError(header + "\n".join(failed))
        return snapshot, report.passed

    def _fail(self, exc: PolicyError) -> None:
        """Record a refused revision; it is not tried again until its content changes."""
        status = self._status
        self._refused_hash, revision, commit = self._refused
        self._status = replace(
            status, last_attempt_at=self._clock.now(), last_error=exc.message, failed_revision=revision,
            failed_commit=commit, failures=status.failures + 1,
        )  # fmt: skip
        serving = describe(status.revision, status.commit) if status.revision else "nothing"
        _log.error("policy revision refused, still serving %s: %s", serving, exc.message)

    def _watch_paths(self) -> list[Path]:
        paths = [self._path]
        if self._path.is_symlink():
            paths.append(self._path.parent)
        return paths

    def start(self) -> None:
        """`run()` on a thread of its own, until `stop()`."""
        self._thread = threading.Thread(target=self.run, name="policy-reloader", daemon=True)
        self._thread.start()

    def run(self) -> None:
        """Load now, then watch until `stop()`; re-arms the watch when the folder's target changes."""
        while not self._stop.is_set():
            self.reload_now()
            try:
                self._watch()
            except OSError as exc:  # folder missing (not synced yet) or unwatchable: poll instead
                _log.warning("cannot watch %s (%s); polling", self._path, exc)
                self._stop.wait(self._poll_ms / 1000)

    def _watch(self) -> None:
        target = os.path.realpath(self._path)
        for _changes in watch(
            *self._watch_paths(), watch_filter=None, stop_event=self._stop, debounce=self._debounce_ms,
            rust_timeout=self._poll_ms, yield_on_timeout=True, ignore_permission_denied=True,
        ):  # fmt: skip
            self.reload_now()
            if os.path.realpath(self._path) != target:
                return

    def stop(self) -> None:
        """Ask `run()` to return; safe to call from any thread."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the thread `start()` began (if any) to end after `stop()`."""
        if self._thread is not None:
            self._thread.join(timeout)
