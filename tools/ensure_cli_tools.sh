#!/usr/bin/env bash
# The format tests run the real `zstd` and `jq`; install them from Debian when missing.
set -eu
missing=()
for tool in zstd jq; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "note: install ${missing[*]} (e.g. sudo apt-get install ${missing[*]}) to run the format tests" >&2
fi
