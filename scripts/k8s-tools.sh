#!/usr/bin/env bash
# The one place that pins the Kubernetes tools CI uses on deploy/helm: helm (lint, template) and
# kubeconform (validates rendered manifests against the Kubernetes schemas). Prints the folder
# holding both, building them with `go install` (Go and the module proxy; minutes, once).
set -euo pipefail
HELM_VERSION="v4.3.2"
KUBECONFORM_VERSION="v0.7.0"
cache="${PORTCULLIS_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/portcullis}/k8s-helm-${HELM_VERSION}-kubeconform-${KUBECONFORM_VERSION}"
if [ ! -x "$cache/helm" ] || [ ! -x "$cache/kubeconform" ]; then
  command -v go >/dev/null || { echo "scripts/k8s-tools.sh: Go is needed to build helm and kubeconform" >&2; exit 1; }
  echo "building helm ${HELM_VERSION} and kubeconform ${KUBECONFORM_VERSION} into $cache (go install; minutes, once)" >&2
  mkdir -p "$cache"
  GOBIN="$cache" go install "helm.sh/helm/v4/cmd/helm@${HELM_VERSION}" >&2
  GOBIN="$cache" go install "github.com/yannh/kubeconform/cmd/kubeconform@${KUBECONFORM_VERSION}" >&2
fi
echo "$cache"
