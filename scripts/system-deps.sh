#!/usr/bin/env bash
# System packages the interop and browser tests use (Debian): Ceph RGW, Chromium, Node.js/npm, S3 clients.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v radosgw >/dev/null 2>&1 || missing+=(ceph-mon ceph-osd radosgw ceph-common)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v node >/dev/null 2>&1 || missing+=(nodejs)      # openid-client test (tests/tooling/node)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v setpriv >/dev/null 2>&1 || missing+=(util-linux)  # start-up check tests run a child as nobody
# S3 gateway client tests (tests/interop/gateway): Debian's rclone, restic, s3cmd
command -v /usr/bin/rclone >/dev/null 2>&1 || missing+=(rclone)
command -v restic >/dev/null 2>&1 || missing+=(restic)
command -v /usr/bin/s3cmd >/dev/null 2>&1 || missing+=(s3cmd)
if ((${#missing[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
