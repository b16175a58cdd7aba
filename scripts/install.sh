#!/usr/bin/env bash
# Install stsmock into ./.venv (creating it), on a fresh Debian machine or any Linux/macOS.
# Usage: scripts/install.sh [--test]   (--test also installs the test dependencies)
set -euo pipefail
cd "$(dirname "$0")/.."

extras="[s3]"   # s3: the embedded SeaweedFS behind the S3 gateway
if [[ "${1:-}" == "--test" ]]; then extras="[s3,test]"; fi

need_apt=()
if ! command -v python3 >/dev/null 2>&1; then need_apt+=(python3); fi
if command -v python3 >/dev/null 2>&1 && ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  need_apt+=(python3-venv)
fi
if ((${#need_apt[@]})); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" python3-pip >/dev/null
  else
    echo "install.sh: please install: ${need_apt[*]} (e.g. sudo apt-get install ${need_apt[*]})" >&2
    exit 1
  fi
fi

python3 - <<'PY'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"stsmock needs Python >= 3.11, found {sys.version.split()[0]}")
PY

if [[ ! -x .venv/bin/python ]]; then python3 -m venv .venv; fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install -q -e ".${extras}" 2>&1 | grep -v '^WARNING: Location' || true
.venv/bin/python -c 'import stsmock, issuer, stsproxy, cli, boundedjson' || { echo "install.sh: install failed" >&2; exit 1; }
# Byte-compile the (editable) sources once, so the first `stsmock serve` starts as fast as later ones.
.venv/bin/python -m compileall -q stsmock issuer stsproxy cli boundedjson >/dev/null || true
echo "stsmock installed in .venv (run: .venv/bin/stsmock serve)"
