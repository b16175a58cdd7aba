#!/usr/bin/env bash
# The minio-go client of `stsmock drill refresh` and the delivery tests: builds
# stsmock/delivery/drill/go/minio-go-client from the locked go.mod/go.sum (modules from the Go
# module proxy, cached in Go's module cache ~/go/pkg/mod). Uses `go` from PATH or /usr/local/go;
# installs Debian's golang-go when neither exists (as root).
set -euo pipefail
cd "$(dirname "$0")/.."
GO=$(command -v go || true)
[[ -z $GO && -x /usr/local/go/bin/go ]] && GO=/usr/local/go/bin/go
if [[ -z $GO ]]; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends golang-go ca-certificates >/dev/null
    GO=$(command -v go)
  else
    echo "go-deps.sh: Go is needed for the minio-go client (e.g. sudo apt-get install golang-go)" >&2
    exit 1
  fi
fi
dir=stsmock/delivery/drill/go
# minio-go v7.4 needs the Go that go.mod names; an older Go (Debian 12's 1.19 cannot switch
# toolchains itself) fetches that toolchain as the Go module golang.org/toolchain from the proxy.
need=$(sed -n 's/^go \([0-9.]*\).*/\1/p' "$dir/go.mod")
have=$("$GO" env GOVERSION | sed 's/^go//')
if [[ $(printf '%s\n%s\n' "$need" "$have" | sort -V | head -1) != "$need" ]]; then
  toolchain="golang.org/toolchain@v0.0.1-go${GO_TOOLCHAIN_VERSION:-1.26.8}.linux-$("$GO" env GOARCH)"
  tdir=$(cd / && GOFLAGS= GO111MODULE=on "$GO" mod download -json "$toolchain" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  chmod -R u+x "$tdir/bin" "$tdir/pkg/tool" 2>/dev/null || true  # module zips carry no exec bits
  GO=$tdir/bin/go
fi
bin=$dir/minio-go-client
if [[ ! -x $bin || $dir/main.go -nt $bin || $dir/go.sum -nt $bin ]]; then
  (cd "$dir" && GOTOOLCHAIN=${GOTOOLCHAIN:-auto} GOFLAGS=-mod=readonly "$GO" build -trimpath -o minio-go-client .)
fi
