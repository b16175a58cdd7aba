#!/usr/bin/env bash
# Real identity providers for the interop tests, installed from the registries into a cache.
#
#   scripts/idp-tools.sh install [keycloak|dex|oidc-provider|all]   # default: all
#   scripts/idp-tools.sh path keycloak|dex|dex-web|oidc-provider      # print where it is installed
#
# Cache: $STSMOCK_IDP_CACHE (default ~/.cache/stsmock-idp); a second run downloads nothing.
# - Keycloak 26.4.7 (Quarkus distribution, runs on JDK 17) from Maven Central via `mvn dependency:copy`.
# - Dex v2.13.0 built from the Go module proxy (the only Dex release it serves; see
#   tests/interop/idp/dex-build/README.md for the pinned dependencies and the one shim).
# - panva's oidc-provider 9.13.3 from npm.
# As root on Debian, missing tools (JDK 17, Maven, Go, Node.js) are installed with apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
CACHE=${STSMOCK_IDP_CACHE:-$HOME/.cache/stsmock-idp}
KEYCLOAK_VERSION=26.4.7
DEX_VERSION=v2.13.0+incompatible
OIDC_PROVIDER_VERSION=9.13.3

log() { printf '[idp-tools] %s\n' "$*" >&2; }
die() { printf '[idp-tools] ERROR: %s\n' "$*" >&2; exit 1; }

apt_install() {  # packages...
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    die "missing $*: install them (as root: apt-get install $*)"
  fi
  log "apt-get install $*"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

keycloak_home() { echo "$CACHE/keycloak-$KEYCLOAK_VERSION"; }

install_keycloak() {
  local home; home=$(keycloak_home)
  if [ -x "$home/bin/kc.sh" ]; then log "keycloak $KEYCLOAK_VERSION cached"; return 0; fi
  command -v java >/dev/null 2>&1 || apt_install openjdk-17-jre-headless
  command -v mvn >/dev/null 2>&1 || apt_install maven
  command -v unzip >/dev/null 2>&1 || apt_install unzip
  mkdir -p "$CACHE"
  log "downloading org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION:zip (Maven Central)"
  mvn -q -B dependency:copy -Dartifact="org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION:zip" \
    -DoutputDirectory="$CACHE" >&2
  rm -rf "$home.tmp" && mkdir -p "$home.tmp"
  unzip -q "$CACHE/keycloak-quarkus-dist-$KEYCLOAK_VERSION.zip" -d "$home.tmp"
  mv "$home.tmp/keycloak-$KEYCLOAK_VERSION" "$home" && rmdir "$home.tmp"
  rm -f "$CACHE/keycloak-quarkus-dist-$KEYCLOAK_VERSION.zip"
  log "keycloak installed in $home"
}

dex_dir() { echo "$CACHE/dex-build"; }

install_dex() {
  local dir; dir=$(dex_dir)
  if [ -x "$dir/dex" ] && cmp -s "$REPO/tests/interop/idp/dex-build/go.mod" "$dir/go.mod"; then
    log "dex $DEX_VERSION cached"; return 0
  fi
  command -v go >/dev/null 2>&1 || apt_install golang-go
  command -v gcc >/dev/null 2>&1 || apt_install gcc libc6-dev   # go-sqlite3 is cgo
  rm -rf "$dir" && mkdir -p "$dir"
  cp -r "$REPO/tests/interop/idp/dex-build/." "$dir/"
  log "building dex $DEX_VERSION from the Go module proxy"
  (cd "$dir" && GOFLAGS=-mod=mod go build -o dex github.com/dexidp/dex/cmd/dex) >&2
  # Dex serves its login pages from web/ of its own source tree (in the module cache)
  local src; src=$(cd "$dir" && GOFLAGS=-mod=mod go list -m -f '{{.Dir}}' github.com/dexidp/dex)
  rm -rf "$dir/web" && cp -r "$src/web" "$dir/web" && chmod -R u+w "$dir/web"
  log "dex built in $dir"
}

oidc_provider_dir() { echo "$CACHE/oidc-provider-$OIDC_PROVIDER_VERSION"; }

install_oidc_provider() {
  local dir; dir=$(oidc_provider_dir)
  if [ -f "$dir/node_modules/oidc-provider/package.json" ]; then log "oidc-provider $OIDC_PROVIDER_VERSION cached"; return 0; fi
  command -v node >/dev/null 2>&1 || apt_install nodejs npm
  rm -rf "$dir" && mkdir -p "$dir"
  printf '{"name":"stsmock-oidc-provider","private":true,"type":"module","dependencies":{"oidc-provider":"%s"}}\n' \
    "$OIDC_PROVIDER_VERSION" >"$dir/package.json"
  log "npm install oidc-provider@$OIDC_PROVIDER_VERSION"
  (cd "$dir" && npm install --no-audit --no-fund --loglevel=error) >&2
  log "oidc-provider installed in $dir"
}

cmd=${1:-install}; what=${2:-all}
case "$cmd" in
  install)
    case "$what" in
      keycloak) install_keycloak ;;
      dex) install_dex ;;
      oidc-provider) install_oidc_provider ;;
      all) install_keycloak; install_dex; install_oidc_provider ;;
      *) die "unknown tool '$what'" ;;
    esac ;;
  path)
    case "$what" in
      keycloak) keycloak_home ;;
      dex) echo "$(dex_dir)/dex" ;;
      dex-web) echo "$(dex_dir)/web" ;;
      oidc-provider) oidc_provider_dir ;;
      *) die "unknown tool '$what'" ;;
    esac ;;
  *) die "usage: $0 install [keycloak|dex|oidc-provider|all] | path TOOL" ;;
esac
