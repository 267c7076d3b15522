#!/usr/bin/env bash
# The peers and the open-loop load generator the bench compares against (not needed by the gateway or
# its tests): nginx from Debian's packages, vegeta (pinned) through the Go module proxy into
# ~/.cache/portcullis/bin. The opa binary comes from scripts/opa.sh.
set -euo pipefail
VEGETA_VERSION=v12.12.0
ZITADEL_OIDC_VERSION=v3.52.0
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  if [ "$(id -u)" = 0 ]; then apt-get install -y nginx-light >/dev/null || { apt-get update >/dev/null && apt-get install -y nginx-light >/dev/null; }
  else echo "nginx is not installed: apt-get install nginx-light (as root)" >&2; fi
fi
bin="$HOME/.cache/portcullis/bin"
if [ ! -x "$bin/vegeta" ]; then
  mkdir -p "$bin"
  (cd /tmp && GOBIN="$bin" go install "github.com/tsenart/vegeta/v12@${VEGETA_VERSION}")
fi
# zitadel/oidc's example OP: the second token-endpoint peer (bench/identity.mjs), with the service
# user key the example ships (its JWT-profile grant's client key).
if [ ! -x "$bin/zitadel-oidc-example" ]; then
  tmp=$(mktemp -d)
  (cd /tmp && GOBIN="$tmp" go install "github.com/zitadel/oidc/v3/example/server@${ZITADEL_OIDC_VERSION}")
  mv "$tmp/server" "$bin/zitadel-oidc-example"
  cp "$(go env GOMODCACHE)/github.com/zitadel/oidc/v3@${ZITADEL_OIDC_VERSION}/example/server/service-key1.pem" "$HOME/.cache/portcullis/zitadel-service-key1.pem"
fi
echo "nginx: $(command -v nginx || echo /usr/sbin/nginx)"
echo "vegeta: $bin/vegeta"
echo "zitadel/oidc example OP: $bin/zitadel-oidc-example"
