"""`make run` stops everything it started, even when its output pipe is gone (`make run | tee`, Ctrl-C)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

_CHILD = """
import sys
from pathlib import Path
from devtools.run import _stop_all

class Recorder:
    def __init__(self, marker):
        self.marker = Path(marker)
    def stop(self):
        self.marker.write_text("stopped")

class Failing:
    def stop(self):
        raise RuntimeError("broker would not stop")

sys.stdin.read()  # the parent closes our stdout's reader first: every print now hits a broken pipe
_stop_all(Recorder(sys.argv[1]), Failing(), Recorder(sys.argv[2]))
"""


def test_every_process_is_stopped_when_stdout_is_a_broken_pipe(tmp_path: Path) -> None:
    first, second = tmp_path / "service", tmp_path / "broker"
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(first), str(second)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    assert child.stdout is not None and child.stdin is not None and child.stderr is not None
    child.stdout.close()
    child.stdin.close()
    stderr = child.stderr.read()
    child.wait(timeout=30)
    assert first.read_text() == "stopped"
    assert second.read_text() == "stopped"
    assert b"broker would not stop" in stderr  # the failure is reported, after the others were stopped
