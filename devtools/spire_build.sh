#!/usr/bin/env bash
# Build SPIRE server and agent from the Go module proxy into .cache/spire/<version>/bin (once per version).
# The proxy serves github.com/spiffe/spire but lists no versions, so `go install pkg@version` is refused;
# a scratch module that records the two commands as tools pins the version instead.
set -euo pipefail
version=${1:-1.13.3}
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/.cache/spire/$version
if [[ -x $out/bin/spire-server && -x $out/bin/spire-agent ]]; then exit 0; fi
# CI starts this build in the background while the other checks run; `make test` then waits here for it
# instead of building a second time.
mkdir -p "$out"
exec 9>"$out/.build.lock"
flock 9
if [[ -x $out/bin/spire-server && -x $out/bin/spire-agent ]]; then exit 0; fi
command -v go >/dev/null || { echo "spire: the Go toolchain (go >= 1.24) is needed to build SPIRE $version" >&2; exit 1; }
echo "==> building SPIRE $version from the Go module proxy (first run: a few minutes)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
printf 'module meshgate.test/spirebuild\n\ngo 1.24\n' >go.mod
export GOFLAGS=-mod=mod
for cmd in spire-server spire-agent; do
  go get -tool "github.com/spiffe/spire/cmd/$cmd@v$version"
done
mkdir -p "$out/bin.partial"
GOBIN=$out/bin.partial go install github.com/spiffe/spire/cmd/spire-server github.com/spiffe/spire/cmd/spire-agent
rm -rf "$out/bin" && mv "$out/bin.partial" "$out/bin"
