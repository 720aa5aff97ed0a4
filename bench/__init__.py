"""meshgate benchmarks: `python -m bench` (or `make bench`) runs them and writes BENCHMARKS.md.

Benchmarks are not tests: nothing here gates CI. Every part is bounded and stops by itself; everything
runs on loopback. Raw results go to bench/results/<part>.json (gitignored) and are rendered into
BENCHMARKS.md with PNG plots in bench/results/ and docs/bench/.
"""
