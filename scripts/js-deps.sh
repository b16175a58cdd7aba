#!/usr/bin/env bash
# The AWS SDK for JavaScript v3 used by `stsmock drill refresh` and the delivery tests:
# installs Node.js (Debian, as root) when missing, then the locked npm packages into
# stsmock/delivery/drill/js/node_modules (npm's cache: ~/.npm).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
  else
    echo "js-deps.sh: Node.js and npm are needed for the JS SDK client (e.g. sudo apt-get install nodejs npm)" >&2
    exit 1
  fi
fi
dir=stsmock/delivery/drill/js
if [[ ! -d $dir/node_modules/@aws-sdk/client-sts || $dir/package-lock.json -nt $dir/node_modules ]]; then
  npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error >/dev/null
  touch "$dir/node_modules"
fi
