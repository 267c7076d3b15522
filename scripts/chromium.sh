#!/usr/bin/env bash
# The browser the console tests drive (playwright-core over CDP): Debian's chromium package,
# installed when missing and we are root. Prints its path; prints nothing when it cannot be had
# (the browser tests then say they are skipped).
set -uo pipefail
for bin in chromium chromium-browser; do
  if command -v "$bin" >/dev/null; then command -v "$bin"; exit 0; fi
done
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  { apt-get install -y chromium || { apt-get update && apt-get install -y chromium; }; } >/dev/null 2>&1
  command -v chromium && exit 0
fi
exit 0
