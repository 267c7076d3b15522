#!/usr/bin/env bash
# The one place that pins the Node.js lines the project supports and tests (`oldest`, `newest`).
# Prints the bin folder of that Node.js build, fetching the official binary from the npm registry
# (the node-linux-<arch> packages) into a per-version cache when it is not there yet.
#   scripts/node.sh oldest|newest        → /…/node-24.22.3/bin
set -euo pipefail
OLDEST="24.22.3"   # Node.js 24, maintenance LTS
NEWEST="26.12.1"   # Node.js 26, active LTS
case "${1:-}" in
  oldest) version="$OLDEST" ;;
  newest) version="$NEWEST" ;;
  *) echo "usage: scripts/node.sh oldest|newest" >&2; exit 2 ;;
esac
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "scripts/node.sh: no Node.js build for $(uname -m) on the npm registry" >&2; exit 1 ;;
esac
os="$(uname -s | tr '[:upper:]' '[:lower:]')"
cache="${PORTCULLIS_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/portcullis}/node-${version}"
if [ ! -x "$cache/bin/node" ] || [ "$("$cache/bin/node" --version 2>/dev/null)" != "v${version}" ]; then
  command -v npm >/dev/null || { echo "scripts/node.sh: npm is needed to fetch Node.js ${version}" >&2; exit 1; }
  echo "fetching Node.js ${version} (node-${os}-${arch} from the npm registry) into $cache" >&2
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "node-${os}-${arch}@${version}" >/dev/null && tar -xzf node-*.tgz)
  mkdir -p "$cache/bin"
  cp "$tmp/package/bin/node" "$cache/bin/node.tmp" && chmod +x "$cache/bin/node.tmp" && mv "$cache/bin/node.tmp" "$cache/bin/node"
  rm -rf "$tmp"
fi
echo "$cache/bin"
