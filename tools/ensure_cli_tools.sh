#!/usr/bin/env bash
# Tools the tests run for real, from Debian when missing: `zstd` and `jq` (the format tests),
# and `chromium` (the browser tests of `aim up`, driven by Playwright from PyPI, which is
# pointed at /usr/bin/chromium and downloads no browser of its own).
set -eu
missing=()
for tool in zstd jq chromium; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "note: install ${missing[*]} (e.g. sudo apt-get install ${missing[*]}) to run the format and browser tests" >&2
fi
