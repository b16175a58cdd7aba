#!/usr/bin/env bash
# Single-node Ceph RGW for stsmock interop tests.
#
#   scripts/ceph-rgw.sh install          # apt-get install ceph-mon ceph-osd radosgw ... (root; no-op if present)
#   scripts/ceph-rgw.sh start            # wipe $CEPH_DIR, bring up mon + memstore osd + radosgw
#   scripts/ceph-rgw.sh stop [--purge]   # kill rgw, osd, mon (by pid files); --purge also removes $CEPH_DIR
#   scripts/ceph-rgw.sh status           # exit 0 iff RGW answers HTTP
#
# Environment (all optional):
#   CEPH_DIR            cluster state dir            (default: $PWD/.ceph-test)
#   CEPH_RGW_PORT       RGW HTTP port on 127.0.0.1   (default: 7480)
#   CEPH_MON_PORT       mon (msgr v1) port           (default: 6789)
#   CEPH_RGW_ACCESS_KEY / CEPH_RGW_SECRET_KEY  admin user keys (default: ADMINAK / ADMINSK)
#   CEPH_RGW_STS_KEY    16-char 'rgw sts key'        (default: abcdefghijklmnop)
#   CEPH_START_TIMEOUT  seconds for the whole bring-up (default: 90)
#   CEPH_RGW_DEBUG      'debug rgw' level, e.g. 20   (default: ceph default)
#   CEPH_RGW_CA_FILE    extra CA (PEM) radosgw trusts for its outbound https (OIDC discovery/JWKS): radosgw
#                       runs in its own mount namespace where the system bundle + this CA is bind-mounted
#                       over /etc/ssl/certs/ca-certificates.crt (root; nothing changes for other processes)
#
# 'start' prints only `export ...` lines on stdout (eval-able); progress goes to stderr:
#   eval "$(scripts/ceph-rgw.sh start)"
#
# Recipe and quirks: /work/shared/reference/real-servers.md section 2.
set -euo pipefail

CEPH_DIR=${CEPH_DIR:-$PWD/.ceph-test}
RGW_PORT_FROM_ENV=${CEPH_RGW_PORT:-}
CEPH_RGW_PORT=${CEPH_RGW_PORT:-7480}
CEPH_MON_PORT=${CEPH_MON_PORT:-6789}
CEPH_RGW_ACCESS_KEY=${CEPH_RGW_ACCESS_KEY:-ADMINAK}
CEPH_RGW_SECRET_KEY=${CEPH_RGW_SECRET_KEY:-ADMINSK}
CEPH_RGW_STS_KEY=${CEPH_RGW_STS_KEY:-abcdefghijklmnop}
CEPH_START_TIMEOUT=${CEPH_START_TIMEOUT:-90}
CEPH_RGW_DEBUG=${CEPH_RGW_DEBUG:-}
CEPH_RGW_CA_FILE=${CEPH_RGW_CA_FILE:-}
SYSTEM_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
MARKER=.ceph-rgw-sh   # marks a dir this script created, so we never wipe anything else

log() { printf '[ceph-rgw] %s\n' "$*" >&2; }
die() { printf '[ceph-rgw] ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------- install
cmd_install() {
  local missing=()
  for b in radosgw ceph-mon ceph-osd ceph radosgw-admin monmaptool ceph-authtool curl; do
    command -v "$b" >/dev/null 2>&1 || missing+=("$b")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    log "already installed: $(radosgw --version 2>/dev/null | head -n1)"
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    die "missing: ${missing[*]}. Installing needs root: run 'sudo $0 install'"
  fi
  log "installing ceph-mon ceph-osd radosgw ceph-common curl (missing: ${missing[*]})"
  apt-get update >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    ceph-mon ceph-osd radosgw ceph-common curl >&2
  log "installed: $(radosgw --version 2>/dev/null | head -n1)"
}

# ---------------------------------------------------------------------------- helpers
need_bins() {
  local b
  for b in radosgw ceph-mon ceph-osd ceph radosgw-admin monmaptool ceph-authtool curl timeout; do
    command -v "$b" >/dev/null 2>&1 || die "'$b' not found: run 'sudo $0 install'"
  done
}

check_port() {  # name value
  [[ "$2" =~ ^[0-9]+$ ]] && [ "$2" -ge 1 ] && [ "$2" -le 65535 ] || die "$1 must be a port number, got '$2'"
}

ceph_cli() { timeout 10 ceph -c "$CEPH_DIR/ceph.conf" "$@"; }

# pid_of NAME -> prints pid if the pid file exists and the process is alive and is a ceph daemon
pid_of() {
  local f="$CEPH_DIR/run/$1.fg.pid" pid cmd
  [ -f "$f" ] || return 1
  pid=$(cat "$f" 2>/dev/null || true)
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [ -r "/proc/$pid/cmdline" ] || return 1
  cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
  case "$cmd" in
    *radosgw*|*ceph-osd*|*ceph-mon*) ;;
    *) return 1 ;;  # pid reused by something else: leave it alone
  esac
  # the process must belong to this cluster dir (its -c argument)
  case "$cmd" in *"$CEPH_DIR/ceph.conf"*) ;; *) return 1 ;; esac
  echo "$pid"
}

kill_daemon() {  # NAME GRACE_SECONDS
  local name=$1 grace=$2 pid i
  pid=$(pid_of "$name") || { rm -f "$CEPH_DIR/run/$name.fg.pid"; return 0; }
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name (pid $pid) did not exit after ${grace}s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$CEPH_DIR/run/$name.fg.pid"
}

dump_logs() {
  local f
  for f in "$CEPH_DIR"/log/*.out "$CEPH_DIR"/log/*.log; do
    [ -f "$f" ] || continue
    printf '\n----- tail of %s -----\n' "$f" >&2
    tail -n 25 "$f" >&2 || true
  done
}

START_TS=0
deadline_left() { echo $(( START_TS + CEPH_START_TIMEOUT - $(date +%s) )); }

fail_start() {
  log "start FAILED: $*"
  dump_logs
  # do not leave half a cluster running
  kill_daemon rgw 3 || true; kill_daemon osd 3 || true; kill_daemon mon 3 || true
  exit 1
}

# wait_until DESCRIPTION DAEMON_NAME CMD...   (polls CMD until success, the deadline, or the daemon dying)
wait_until() {
  local what=$1 daemon=$2; shift 2
  while true; do
    if "$@" >/dev/null 2>&1; then return 0; fi
    if [ -n "$daemon" ] && ! pid_of "$daemon" >/dev/null; then
      fail_start "$daemon exited while waiting for: $what"
    fi
    if [ "$(deadline_left)" -le 0 ]; then
      fail_start "timed out after ${CEPH_START_TIMEOUT}s waiting for: $what"
    fi
    sleep 0.2
  done
}

# spawn NAME CMD... : run a daemon in the foreground mode, detached from our session, record its pid
spawn() {
  local name=$1; shift
  setsid "$@" </dev/null >"$CEPH_DIR/log/$name.out" 2>&1 &
  echo $! >"$CEPH_DIR/run/$name.fg.pid"
}

osd_up() { ceph_cli osd stat 2>/dev/null | grep -q ' 1 up'; }
rgw_up() { curl -s -o /dev/null -m 2 "http://127.0.0.1:$CEPH_RGW_PORT/"; }

safe_wipe() {
  [ -n "$CEPH_DIR" ] && [ "$CEPH_DIR" != "/" ] || die "refusing to wipe CEPH_DIR='$CEPH_DIR'"
  if [ -d "$CEPH_DIR" ]; then
    if [ -n "$(ls -A "$CEPH_DIR" 2>/dev/null)" ] && [ ! -f "$CEPH_DIR/$MARKER" ]; then
      die "$CEPH_DIR is not empty and was not created by $0; refusing to wipe it"
    fi
    kill_daemon rgw 5; kill_daemon osd 5; kill_daemon mon 5
    rm -rf "$CEPH_DIR"
  fi
}

# ---------------------------------------------------------------------------- start
cmd_start() {
  need_bins
  check_port CEPH_RGW_PORT "$CEPH_RGW_PORT"
  check_port CEPH_MON_PORT "$CEPH_MON_PORT"
  [ ${#CEPH_RGW_STS_KEY} -eq 16 ] || die "CEPH_RGW_STS_KEY must be exactly 16 characters"
  START_TS=$(date +%s)
  local t0; t0=$(date +%s.%N)

  mkdir -p "$(dirname "$CEPH_DIR")"
  CEPH_DIR=$(cd "$(dirname "$CEPH_DIR")" && pwd)/$(basename "$CEPH_DIR")   # absolute
  safe_wipe
  if rgw_up; then die "something already answers on 127.0.0.1:$CEPH_RGW_PORT (another RGW? try CEPH_DIR=... $0 stop)"; fi

  mkdir -p "$CEPH_DIR"/{run,log,mon,osd,rgw}
  touch "$CEPH_DIR/$MARKER"
  local C=$CEPH_DIR fsid
  fsid=$(cat /proc/sys/kernel/random/uuid)
  cat >"$C/ceph.conf" <<EOF
[global]
fsid = $fsid
mon host = v1:127.0.0.1:$CEPH_MON_PORT
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr2 = false
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
mon allow pool size one = true
mon warn on pool no redundancy = false
mon data avail warn = 1
osd crush chooseleaf type = 0
osd objectstore = memstore
memstore device bytes = 536870912
osd class update on start = false
osd crush update on start = false
run dir = $C/run
admin socket = $C/run/\$name.asok
pid file = $C/run/\$name.pid
log file = $C/log/\$name.log
mon data = $C/mon/\$cluster-\$id
osd data = $C/osd/\$cluster-\$id
keyring = $C/keyring

[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$CEPH_RGW_PORT
rgw data = $C/rgw
rgw sts key = $CEPH_RGW_STS_KEY
rgw s3 auth use sts = true
EOF
  if [ -n "$CEPH_RGW_DEBUG" ]; then echo "debug rgw = $CEPH_RGW_DEBUG" >>"$C/ceph.conf"; fi

  log "mon on 127.0.0.1:$CEPH_MON_PORT (dir $C)"
  ceph-authtool --create-keyring "$C/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  # --addv with an explicit v1: monmaptool --add would record any port other than 6789 as msgr v2,
  # and with 'ms bind msgr2 = false' clients then hang forever talking to the mon.
  monmaptool --create --addv a "[v1:127.0.0.1:$CEPH_MON_PORT]" --fsid "$fsid" "$C/monmap" >/dev/null
  ceph-mon -c "$C/ceph.conf" --mkfs -i a --monmap "$C/monmap" --keyring "$C/keyring" >"$C/log/mon-mkfs.out" 2>&1 \
    || fail_start "ceph-mon --mkfs failed"
  spawn mon ceph-mon -c "$C/ceph.conf" -i a -f
  wait_until "mon quorum" mon ceph_cli mon stat

  log "osd (memstore)"
  local uuid id
  uuid=$(cat /proc/sys/kernel/random/uuid)
  id=$(ceph_cli osd new "$uuid") || fail_start "ceph osd new failed"
  mkdir -p "$C/osd/ceph-$id"
  ceph-osd -c "$C/ceph.conf" -i "$id" --mkfs --osd-uuid "$uuid" >"$C/log/osd-mkfs.out" 2>&1 \
    || fail_start "ceph-osd --mkfs failed"
  ceph_cli osd crush add-bucket localhost host >/dev/null 2>&1 || fail_start "crush add-bucket failed"
  ceph_cli osd crush move localhost root=default >/dev/null 2>&1 || fail_start "crush move failed"
  ceph_cli osd crush add "osd.$id" 1.0 host=localhost >/dev/null 2>&1 || fail_start "crush add failed"
  spawn osd ceph-osd -c "$C/ceph.conf" -i "$id" -f
  wait_until "osd up" osd osd_up

  log "radosgw on 127.0.0.1:$CEPH_RGW_PORT"
  if [ -n "$CEPH_RGW_CA_FILE" ]; then
    [ -r "$CEPH_RGW_CA_FILE" ] || fail_start "CEPH_RGW_CA_FILE $CEPH_RGW_CA_FILE is not readable"
    { cat "$SYSTEM_CA_BUNDLE" 2>/dev/null || true; cat "$CEPH_RGW_CA_FILE"; } >"$C/ca-bundle.crt"
    log "radosgw trusts $CEPH_RGW_CA_FILE (bundle bind-mounted in its own mount namespace)"
    # unshare execs in place (no fork), so the recorded pid is radosgw's
    spawn rgw unshare --mount --propagation private sh -c \
      'mount --bind "$0" "$1" && exec radosgw -c "$2" -n client.rgw.a -f' \
      "$C/ca-bundle.crt" "$SYSTEM_CA_BUNDLE" "$C/ceph.conf"
  else
    spawn rgw radosgw -c "$C/ceph.conf" -n client.rgw.a -f
  fi
  wait_until "rgw HTTP on 127.0.0.1:$CEPH_RGW_PORT" rgw rgw_up

  log "admin user ($CEPH_RGW_ACCESS_KEY)"
  timeout 30 radosgw-admin -c "$C/ceph.conf" user create --uid=admin --display-name=admin \
    --access-key="$CEPH_RGW_ACCESS_KEY" --secret="$CEPH_RGW_SECRET_KEY" >"$C/log/admin-user.out" 2>&1 \
    || fail_start "radosgw-admin user create failed"
  timeout 30 radosgw-admin -c "$C/ceph.conf" caps add --uid=admin \
    --caps="oidc-provider=*;roles=*;users=*;buckets=*" >>"$C/log/admin-user.out" 2>&1 \
    || fail_start "radosgw-admin caps add failed"

  echo "$CEPH_RGW_PORT" >"$C/rgw.port"
  local elapsed; elapsed=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  cat >"$C/env" <<EOF
export CEPH_RGW_ENDPOINT=http://127.0.0.1:$CEPH_RGW_PORT
export CEPH_RGW_ACCESS_KEY=$CEPH_RGW_ACCESS_KEY
export CEPH_RGW_SECRET_KEY=$CEPH_RGW_SECRET_KEY
export CEPH_DIR=$C
EOF
  echo "rgw ready in $elapsed s" >&2
  cat "$C/env"
}

# ---------------------------------------------------------------------------- stop / status
cmd_stop() {
  local purge=0
  if [ "${1:-}" = "--purge" ]; then purge=1; elif [ -n "${1:-}" ]; then die "usage: $0 stop [--purge]"; fi
  if [ ! -d "$CEPH_DIR" ]; then log "nothing to stop ($CEPH_DIR does not exist)"; return 0; fi
  CEPH_DIR=$(cd "$CEPH_DIR" && pwd)
  # rgw first: it hangs on shutdown once mon/osd are gone
  kill_daemon rgw 5
  kill_daemon osd 5
  kill_daemon mon 5
  if [ $purge -eq 1 ]; then
    if [ -f "$CEPH_DIR/$MARKER" ]; then rm -rf "$CEPH_DIR"; log "removed $CEPH_DIR"
    else log "not removing $CEPH_DIR (not created by $0)"; fi
  fi
  log "stopped"
}

cmd_status() {
  local port=$RGW_PORT_FROM_ENV   # an explicit CEPH_RGW_PORT wins over the one recorded in $CEPH_DIR
  if [ -z "$port" ] && [ -f "$CEPH_DIR/rgw.port" ]; then port=$(cat "$CEPH_DIR/rgw.port"); fi
  port=${port:-$CEPH_RGW_PORT}
  if curl -s -o /dev/null -m 3 "http://127.0.0.1:$port/"; then
    echo "rgw up on http://127.0.0.1:$port"
  else
    echo "rgw not answering on http://127.0.0.1:$port" >&2
    return 1
  fi
}

case "${1:-}" in
  install) cmd_install ;;
  start)   cmd_start ;;
  stop)    shift; cmd_stop "$@" ;;
  status)  cmd_status ;;
  *) echo "usage: $0 {install|start|stop [--purge]|status}" >&2; exit 2 ;;
esac
