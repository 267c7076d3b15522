#!/usr/bin/env bash
# Prints the path of the test MCP client built on the official Go SDK (test/clients/go-mcp; its go.mod
# pins the SDK's version), building it with Go and the module proxy when its sources changed.
set -euo pipefail
src="$(cd "$(dirname "$0")/../test/clients/go-mcp" && pwd)"
hash="$(cat "$src/go.mod" "$src/go.sum" "$src"/*.go | sha256sum | cut -c1-16)"
cache="${PORTCULLIS_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/portcullis}/go-mcp-${hash}"
bin="$cache/go-mcp"
if [ ! -x "$bin" ]; then
  command -v go >/dev/null || { echo "scripts/go-mcp-client.sh: Go is needed to build the Go SDK test client" >&2; exit 1; }
  echo "building the Go SDK test client into $cache (once)" >&2
  mkdir -p "$cache"
  (cd "$src" && go build -o "$bin.tmp" . && mv "$bin.tmp" "$bin") >&2
fi
echo "$bin"
