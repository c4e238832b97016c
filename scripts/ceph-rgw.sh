#!/usr/bin/env bash
# A single-node Ceph cluster serving the S3 API on 127.0.0.1, for the tests of wharf's S3 blob
# store (and for trying wharf on S3 by hand): one monitor, one BlueStore OSD in a sparse file,
# radosgw. No systemd, no Docker; every daemon runs in its own session and its pid is recorded.
#
#   scripts/ceph-rgw.sh start DIR     bootstrap (empty DIR, ~25 s) or restart (~6 s) the cluster,
#                                     create the user and bucket, print S3_* lines on stdout
#   scripts/ceph-rgw.sh stop DIR      stop the daemons by their recorded pids (data stays)
#   scripts/ceph-rgw.sh wipe DIR      stop, then delete DIR
#
# Ports: the monitor takes CEPH_MON_PORT (default 3300, messenger v2 only) and radosgw RGW_PORT
# (default 7480); both are written into DIR at bootstrap and kept. Start is idempotent: with the
# daemons alive it only checks them and prints the lines again. Progress goes to stderr.
# Needs the Debian packages ceph-mon, ceph-osd, radosgw, ceph-common and uuid-runtime
# (scripts/install-test-deps.sh installs them).
set -euo pipefail

command=${1:-}
DIR=${2:-}
if [[ -z "$command" || -z "$DIR" ]]; then
  echo "usage: $0 start|stop|wipe DIR" >&2
  exit 2
fi
DIR=$(realpath -m "$DIR")
CONF="$DIR/ceph.conf"
# Test files may ask at the same time: one start (or stop) at a time, the others then find it running.
mkdir -p "$(dirname "$DIR")"
exec 9>"$DIR.lock"
flock 9
ACCESS_KEY=${S3_ACCESS_KEY:-WHARFTESTACCESSKEY01}
SECRET_KEY=${S3_SECRET_KEY:-wharf-test-secret-key-0000000000000000001}
BUCKET=${S3_BUCKET:-wharf-test}
REGION=us-east-1
started=$(date +%s%N)

log() { printf '[ceph-rgw %6.1fs] %s\n' "$(awk "BEGIN { print ($(date +%s%N) - $started) / 1e9 }")" "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}
alive() { [[ -f "$DIR/run/$1.pid" ]] && kill -0 "$(cat "$DIR/run/$1.pid")" 2>/dev/null; }

# Signals a recorded daemon only while its command line still names DIR: a recycled pid is left alone.
stop_daemon() {
  local pidfile="$DIR/run/$1.pid" pid i
  [[ -f "$pidfile" ]] || return 0
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null && grep -qa -- "$DIR" "/proc/$pid/cmdline" 2>/dev/null; then
    kill -TERM "$pid"
    for ((i = 0; i < 100; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    log "$1 stopped"
  fi
  rm -f "$pidfile"
}

stop_all() {
  # The gateway first, the monitor last: each needs the ones after it to stop cleanly.
  stop_daemon rgw
  stop_daemon osd.0
  stop_daemon mon.a
}

case "$command" in
  stop)
    stop_all
    exit 0
    ;;
  wipe)
    stop_all
    rm -rf "$DIR"
    log "removed $DIR"
    exit 0
    ;;
  start) ;;
  *)
    echo "usage: $0 start|stop|wipe DIR" >&2
    exit 2
    ;;
esac

for tool in ceph-mon ceph-osd radosgw radosgw-admin ceph monmaptool ceph-authtool uuidgen; do
  command -v "$tool" >/dev/null || die "$tool is missing: run scripts/install-test-deps.sh"
done

mkdir -p "$DIR"/run "$DIR"/log
if [[ ! -f "$DIR/cluster.env" ]]; then
  rm -rf "$DIR"/mon.a "$DIR"/osd.0 "$DIR"/keyring "$DIR"/.mon-made "$DIR"/.osd-made
  printf 'FSID=%s\nMON_PORT=%s\nRGW_PORT=%s\n' "$(uuidgen)" "${CEPH_MON_PORT:-3300}" "${RGW_PORT:-7480}" \
    >"$DIR/cluster.env"
  log "bootstrapping a new cluster in $DIR"
fi
# shellcheck disable=SC1091
source "$DIR/cluster.env"
ENDPOINT="http://127.0.0.1:$RGW_PORT"

# Rewritten at every start (daemons read it when they start). No cephx: everything is on loopback.
cat >"$CONF" <<EOF
[global]
fsid = $FSID
mon host = v2:127.0.0.1:$MON_PORT
public addr = 127.0.0.1
public network = 127.0.0.1/32
ms bind ipv6 = false
ms bind msgr1 = false
auth cluster required = none
auth service required = none
auth client required = none
auth supported = none
keyring = $DIR/keyring
run dir = $DIR/run
admin socket = $DIR/run/\$name.asok
log file = $DIR/log/\$name.log
log to stderr = false
err to stderr = true
crash dir = $DIR/crash
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
mon data avail warn = 1
mon data avail crit = 0
mon warn on insecure global id reclaim allowed = false

[mon.a]
mon data = $DIR/mon.a

[osd.0]
osd data = $DIR/osd.0
osd objectstore = bluestore
osd memory target = 1073741824
bluestore block create = true
bluestore block size = 21474836480
bluestore block db create = false
bluestore block wal create = false
bluestore fsck on mount = false

[client.rgw.gw]
# radosgw asks for a "secure" monitor connection by default, which auth none cannot give
ms mon client mode = crc secure
# without it, small answers wait out the client's delayed ACK: ~40 ms for every GET, LIST, COPY and DELETE
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT tcp_nodelay=1
rgw data = $DIR/rgw
rgw enable usage log = false
# deleted objects' space comes back within a minute instead of two hours
rgw gc obj min wait = 30
rgw gc processor period = 30
rgw thread pool size = 64
EOF

C() { ceph -c "$CONF" --connect-timeout 20 "$@"; }

# wait_for DAEMON SECONDS COMMAND...: polls COMMAND; fails at once when the daemon died.
wait_for() {
  local daemon=$1 seconds=$2 i
  shift 2
  for ((i = 0; i < seconds * 5; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    alive "$daemon" || die "$daemon exited: $(tail -n 15 "$DIR/log/$daemon.out" "$DIR/log/"*"$daemon"*.log 2>/dev/null)"
    sleep 0.2
  done
  die "$daemon not ready after ${seconds}s (logs in $DIR/log)"
}

# start_daemon NAME COMMAND...: in its own session (setsid without fork, so $! is the daemon).
start_daemon() {
  local name=$1
  shift
  if alive "$name"; then
    log "$name already running"
    return 0
  fi
  # 9>&-: the daemon must not hold the start lock for its whole life.
  setsid "$@" </dev/null >"$DIR/log/$name.out" 2>&1 9>&- &
  echo $! >"$DIR/run/$name.pid"
  log "$name started"
}

listening() { ss -Hltn "sport = :$1" | grep -q .; }

if [[ ! -f "$DIR/.mon-made" ]]; then
  listening "$MON_PORT" && die "127.0.0.1:$MON_PORT is taken: another Ceph monitor runs (set CEPH_MON_PORT)"
  ceph-authtool --create-keyring "$DIR/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  monmaptool --create --fsid "$FSID" --addv a "[v2:127.0.0.1:$MON_PORT]" "$DIR/monmap" >/dev/null
  mkdir -p "$DIR/mon.a"
  ceph-mon -c "$CONF" --mkfs -i a --monmap "$DIR/monmap" --keyring "$DIR/keyring" >"$DIR/log/mkfs-mon.out" 2>&1 ||
    die "monitor mkfs failed: $(cat "$DIR/log/mkfs-mon.out")"
  touch "$DIR/.mon-made"
fi
start_daemon mon.a ceph-mon -c "$CONF" -i a -f
wait_for mon.a 60 C mon stat

if [[ ! -f "$DIR/.osd-made" ]]; then
  [[ -s "$DIR/osd.0.uuid" ]] || uuidgen >"$DIR/osd.0.uuid"
  id=$(C osd new "$(cat "$DIR/osd.0.uuid")")
  [[ "$id" == 0 ]] || die "expected osd id 0, got '$id'"
  rm -rf "$DIR/osd.0" && mkdir -p "$DIR/osd.0"
  ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$(cat "$DIR/osd.0.uuid")" >"$DIR/log/mkfs-osd.out" 2>&1 ||
    die "osd mkfs failed: $(tail -n 20 "$DIR/log/mkfs-osd.out")"
  C osd crush add-bucket localhost host >/dev/null 2>&1 || true
  C osd crush move localhost root=default >/dev/null 2>&1 || true
  C osd crush add osd.0 1.0 host=localhost >/dev/null 2>&1
  touch "$DIR/.osd-made"
fi
start_daemon osd.0 ceph-osd -c "$CONF" -i 0 -f --osd-crush-update-on-start=false
osd_up() { C osd dump | grep -q '^osd.0 up'; }
wait_for osd.0 120 osd_up

if ! alive rgw; then
  listening "$RGW_PORT" && die "127.0.0.1:$RGW_PORT is taken by another process (set RGW_PORT at bootstrap)"
fi
start_daemon rgw radosgw -c "$CONF" -n client.rgw.gw -f
wait_for rgw 180 listening "$RGW_PORT"

RA() { radosgw-admin -c "$CONF" -n client.admin "$@"; }
if ! info=$(RA user info --uid=wharf-test 2>/dev/null); then
  RA user create --uid=wharf-test --display-name="wharf tests" --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >/dev/null
  log "user wharf-test created"
elif ! grep -q "\"access_key\": \"$ACCESS_KEY\"" <<<"$info"; then
  RA key create --uid=wharf-test --key-type=s3 --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >/dev/null
fi
# radosgw insists on x-amz-content-sha256, which curl's sigv4 does not send; owning the bucket already is 200.
status=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
  --aws-sigv4 "aws:amz:$REGION:s3" --user "$ACCESS_KEY:$SECRET_KEY" "$ENDPOINT/$BUCKET")
[[ "$status" == 200 ]] || die "creating bucket $BUCKET answered HTTP $status"
log "ready: $ENDPOINT, bucket $BUCKET"
cat <<EOF
S3_ENDPOINT=$ENDPOINT
S3_ACCESS_KEY=$ACCESS_KEY
S3_SECRET_KEY=$SECRET_KEY
S3_BUCKET=$BUCKET
S3_REGION=$REGION
EOF
