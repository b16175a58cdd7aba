#!/usr/bin/env bash
# Run the whole test suite, installing what it needs (Python deps, Ceph RGW, Chromium).
# On CI (CI=true) nothing may be skipped: a missing Ceph or Chromium fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install.sh --test

is_root=0; [[ $(id -u) -eq 0 ]] && is_root=1
if ((is_root)) && command -v apt-get >/dev/null 2>&1; then
  scripts/system-deps.sh
elif [[ "${CI:-}" == "true" ]]; then
  echo "test.sh: CI needs root to install Ceph RGW and Chromium" >&2
  exit 1
else
  echo "test.sh: not root; Ceph RGW and browser tests run only if already installed" >&2
fi

# Real identity providers for tests/interop/idp (Keycloak, Dex, oidc-provider), cached in ~/.cache/stsmock-idp.
if ! scripts/idp-tools.sh install all; then
  if [[ "${CI:-}" == "true" ]]; then echo "test.sh: installing the real IdPs failed" >&2; exit 1; fi
  echo "test.sh: real IdPs not installed; their interop tests will skip" >&2
fi

# the JS SDK client of the delivery tests and the drill (Node.js + npm packages)
if ! scripts/js-deps.sh && [[ "${CI:-}" == "true" ]]; then exit 1; fi
# the minio-go client of the delivery tests and the drill (Go + modules from the Go module proxy)
if ! scripts/go-deps.sh && [[ "${CI:-}" == "true" ]]; then exit 1; fi

# The AWS SDK for JavaScript v3 used by the S3 gateway client tests (npm registry, cached in ~/.npm).
if command -v npm >/dev/null 2>&1; then
  npm --prefix tests/interop/gateway/js ci --no-audit --no-fund --loglevel=error >/dev/null
fi

exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
