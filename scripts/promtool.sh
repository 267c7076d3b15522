#!/usr/bin/env bash
# The one place that pins promtool (Prometheus' rule checker). Prints the path of a promtool of the
# pinned version, building it with `go install` (Go and the module proxy; a few minutes once) into a
# per-version cache when it is not there yet.
set -euo pipefail
PROMETHEUS_VERSION="v0.316.0"
cache="${PORTCULLIS_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/portcullis}/promtool-${PROMETHEUS_VERSION}"
bin="$cache/promtool"
if [ ! -x "$bin" ]; then
  command -v go >/dev/null || { echo "scripts/promtool.sh: Go is needed to build promtool ${PROMETHEUS_VERSION}" >&2; exit 1; }
  echo "building promtool ${PROMETHEUS_VERSION} into $cache (go install; a few minutes once)" >&2
  mkdir -p "$cache"
  GOBIN="$cache" go install "github.com/prometheus/prometheus/cmd/promtool@${PROMETHEUS_VERSION}" >&2
fi
echo "$bin"
