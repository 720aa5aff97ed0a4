"""The findings written by hand, one dated file a run under docs/bench/ (`YYYY-MM-DD-NN-topic.md`, NN the
number of its first finding), closing BENCHMARKS.md in that order. Each file opens with a title line of its
own for reading it alone; the page takes what follows the title's blank line, as written."""

from __future__ import annotations

from bench.env import ROOT

FOLDER = ROOT / "docs" / "bench"


def text() -> str:
    return "".join(path.read_text().split("\n\n", 1)[1] for path in sorted(FOLDER.glob("[0-9]*.md")))
