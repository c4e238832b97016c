#!/usr/bin/env bash
# Runs the compiled tests (build first: npm run build) of the layers named, all three by default:
#
#   unit         pure logic and the stores, in this process: no root, no peers, under a minute
#   inprocess    repositories and the HTTP stack wired together in this process over in-memory
#                stores and fake upstreams, with a manual clock: no root, no peers
#   integration  real peers on 127.0.0.1 (docker-registry, skopeo, podman, ctr, dockerd, PostgreSQL,
#                Ceph RGW): root
#
# Only test files run (test/<layer>/**/*.test.ts, as compiled into dist/), so the runner's summary
# counts tests, not the harness modules beside them; listing the sources, not dist/, keeps a
# renamed or deleted test from running on out of a stale build.
#
# The integration tests need root: they mount private namespaces and tmpfs disks and run podman,
# containerd and dockerd as root. Run by a user, the script starts itself again with sudo when it
# has integration tests to run (build and lint stay the user's, so dist/ is not root's), and the
# one run, one summary, covers every layer asked for.
set -euo pipefail
self="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$self")/.."

layers=("$@")
[ ${#layers[@]} -gt 0 ] || layers=(unit inprocess integration)

needs_root=0
files=()
for layer in "${layers[@]}"; do
  case "$layer" in
    unit | inprocess) ;;
    integration) needs_root=1 ;;
    *)
      echo "test: unknown layer '$layer' (unit, inprocess, integration)" >&2
      exit 2
      ;;
  esac
  # a layer nobody has written a test for yet simply has none to run
  [ -d "test/$layer" ] || continue
  while IFS= read -r source; do
    files+=("dist/${source%.ts}.js")
  done < <(find "test/$layer" -name '*.test.ts' | LC_ALL=C sort)
done

if [ ${#files[@]} -eq 0 ]; then
  echo "test: no test files in: ${layers[*]}" >&2
  exit 1
fi
for file in "${files[@]}"; do
  if [ ! -f "$file" ]; then
    echo "test: $file is missing: build first (npm run build)" >&2
    exit 1
  fi
done

if [ $needs_root = 1 ] && [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null; then
    echo "test: the integration tests need root, and there is no sudo: run as root" >&2
    exit 1
  fi
  echo "test: the integration tests need root: running the tests with sudo" >&2
  # sudo resets the environment: keep the node on this PATH and the harness's own settings
  keep=("PATH=$PATH")
  while IFS= read -r setting; do keep+=("$setting"); done < <(env | grep '^WHARF_TEST_' || true)
  exec sudo env "${keep[@]}" "$self" "${layers[@]}"
fi

if [ $needs_root = 1 ]; then
  # thousands of idle connections in hostile.test.ts: node raises its soft limit to the hard one,
  # which root may raise here (a container's default hard limit can be 1024)
  hard=$(ulimit -Hn)
  if [ "$hard" != unlimited ] && [ "$hard" -lt 16384 ] && ! ulimit -n 16384 2>/dev/null; then
    echo "test: cannot raise the open-files limit from $hard: the idle-connections test will fail" >&2
  fi
fi

if [ $needs_root = 1 ]; then
  # One Ceph RGW serves every test file of the run: the first file that needs it starts it
  # (test/harness/backends/ceph-rgw.ts), the others find it running, and it stops here, after the
  # last one, unless it was running before the run began.
  export WHARF_TEST_CEPH_SHARED=1
  ceph_dir=${WHARF_TEST_CEPH_DIR:-/tmp/wharf-test-ceph}
  ceph_running() {
    for daemon in mon.a osd.0 rgw; do
      [ -f "$ceph_dir/run/$daemon.pid" ] && kill -0 "$(cat "$ceph_dir/run/$daemon.pid")" 2>/dev/null || return 1
    done
  }
  if ! ceph_running; then
    trap 'scripts/ceph-rgw.sh stop "$ceph_dir" 2>/dev/null || true' EXIT
  fi
fi

status=0
node --test --test-reporter=spec --test-concurrency=1 "${files[@]}" || status=$?
exit $status
