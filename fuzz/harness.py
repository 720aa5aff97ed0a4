"""One atheris process: `python -m fuzz.harness <target> <seed dir> [libFuzzer flags] [corpus dirs]`.

The seeds are written by this process (into `<seed dir>`, normally the first corpus dir) because genuine
chains only chain to this process's CA.

meshgate (and PyJWT, PyYAML) are imported under `atheris.instrument_imports` so coverage guides the search.
A crash is any exception escaping the target, `InvariantViolation` included; libFuzzer writes the input to
its `-artifact_prefix` and exits non-zero.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris  # type: ignore[import-untyped]

with atheris.instrument_imports(include=["meshgate", "fuzz", "jwt", "yaml"]):
    from fuzz.seeds import write_seeds
    from fuzz.targets import all_targets


def main() -> None:
    name, seed_dir, flags = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
    target = all_targets()[name]
    target(b"")  # build the fixtures (keys, CA, policy) before the clock starts
    write_seeds(name, seed_dir)
    atheris.Setup([sys.argv[0], *flags], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
