"""Coverage-guided fuzzing (atheris) of meshgate's untrusted-input surfaces; see docs/RELIABILITY.md."""
