#!/usr/bin/env bash
# The one place that pins OPA. Prints the path of an opa binary of the pinned version, installing it
# with `go install` (Go and the module proxy) into a per-version cache when it is not there yet.
# The gateway never needs opa at run time: only `portcullis policy build|test` and CI do.
set -euo pipefail
OPA_VERSION="v1.22.2"
cache="${PORTCULLIS_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/portcullis}/opa-${OPA_VERSION}"
bin="$cache/opa"
# Read the whole version output first: `opa version | grep -q` under pipefail fails on SIGPIPE.
have="$([ -x "$bin" ] && "$bin" version 2>/dev/null || true)"
if ! grep -qx "Version: ${OPA_VERSION#v}" <<<"$have"; then
  command -v go >/dev/null || { echo "scripts/opa.sh: Go is needed to install opa ${OPA_VERSION}" >&2; exit 1; }
  echo "installing opa ${OPA_VERSION} into $cache (go install; takes a minute or two once)" >&2
  mkdir -p "$cache"
  GOBIN="$cache" go install "github.com/open-policy-agent/opa@${OPA_VERSION}" >&2
fi
echo "$bin"
