#!/usr/bin/env bash
# Generates the Python protobuf/gRPC code (and typing stubs) from proto/ into service/meshgate/v1.
# Usage: scripts/gen_proto.sh [OUT_DIR]   (default: service). `make proto-check` generates into a
# temporary folder and fails when the committed code differs, so stale generated code never lands.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-service}"
py="${PYTHON:-.venv/bin/python}"
# protoc finds the mypy plugins on PATH, next to the interpreter.
export PATH="$(cd "$(dirname "$py")" && pwd):$PATH"
mkdir -p "$out/meshgate/v1"
"$py" -m grpc_tools.protoc -Iproto \
  --python_out="$out" --grpc_python_out="$out" \
  --mypy_out="$out" --mypy_grpc_out="$out" \
  proto/meshgate/v1/meshgate.proto
cat > "$out/meshgate/v1/__init__.py" <<'PY'
"""Generated from proto/meshgate/v1/meshgate.proto by scripts/gen_proto.sh. Do not edit."""
PY
