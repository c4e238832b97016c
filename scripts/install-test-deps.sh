#!/usr/bin/env bash
# Installs what the integration tests drive (real registries and clients on 127.0.0.1) on Debian 12.
# Idempotent. Run as root, or as a user with sudo: the script then runs itself again with sudo
# (a fresh Debian logged in as root has no sudo at all, so root must not need it).
#
# dockerd is not installed but unpacked: the docker.io package's postinst starts a system dockerd
# (iptables, docker0, /var/lib/docker) and pulls in apparmor and needrestart. The tests only need
# the binaries, so the .deb is fetched with apt and unpacked into $WHARF_TEST_DOCKER_PKG
# (default /var/cache/wharf-test/docker.io), where test/harness looks for usr/sbin/dockerd.
set -euo pipefail

PKG_DIR=${WHARF_TEST_DOCKER_PKG:-/var/cache/wharf-test/docker.io}
# apache2-utils: htpasswd -B for the basic-auth upstream. podman's recommends (uidmap,
# slirp4netns, fuse-overlayfs, buildah) are for rootless use and building; the tests pull as root
# into vfs storage. g++, make and python3: node-gyp builds the sendfile addon with them, and the
# tests require it (a user's `npm ci` without them falls back to streaming, the tests do not).
# wrk: the benchmark's load generator for warm manifests and listings (npm run bench).
# chromium: the dashboard's end-to-end tests drive Debian's build with playwright-core (Playwright's
# own browser download needs a network the tests never have).
# postgresql-15 and ceph-mon, ceph-osd, radosgw, ceph-common (with uuid-runtime and iproute2, which
# scripts/ceph-rgw.sh uses): the PostgreSQL and S3 backends' tests start their own clusters of them
# in temp dirs; the packages' own services are never started (see policy-rc.d below).
PACKAGES=(docker-registry skopeo podman containerd nginx openssl curl wrk apache2-utils ca-certificates g++ make python3 chromium
  postgresql-15 ceph-mon ceph-osd radosgw ceph-common uuid-runtime iproute2)

if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null; then
    echo "install-test-deps: must run as root, and there is no sudo: run it as root" >&2
    exit 1
  fi
  echo "install-test-deps: installing packages needs root: running with sudo" >&2
  exec sudo "$0" "$@"
fi

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

lists_updated=0
update_lists() {
  [ $lists_updated = 1 ] && return 0
  echo "install-test-deps: apt-get update"
  apt-get update -qq
  lists_updated=1
}

missing=()
for p in "${PACKAGES[@]}"; do installed "$p" || missing+=("$p"); done

if [ ${#missing[@]} -gt 0 ]; then
  update_lists
  # Package postinsts would start system services (a registry on :5000, nginx on :80); the tests
  # start their own on free ports, so keep invoke-rc.d from starting anything during the install.
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
  fi
  echo "install-test-deps: apt-get install ${missing[*]}"
  rc=0
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" || rc=$?
  [ $made_policy = 1 ] && rm -f /usr/sbin/policy-rc.d
  [ $rc = 0 ] || exit $rc
else
  echo "install-test-deps: packages already installed: ${PACKAGES[*]}"
fi

if [ -x "$PKG_DIR/usr/sbin/dockerd" ]; then
  echo "install-test-deps: dockerd already unpacked in $PKG_DIR"
else
  apt-cache show docker.io >/dev/null 2>&1 || update_lists
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  # apt-get download drops privileges to _apt, which must be able to write here.
  chmod 755 "$work"
  chown _apt "$work" 2>/dev/null || true
  echo "install-test-deps: apt-get download docker.io"
  (cd "$work" && apt-get download -qq docker.io)
  mkdir -p "$(dirname "$PKG_DIR")"
  rm -rf "$PKG_DIR.partial"
  dpkg-deb -x "$work"/docker.io_*.deb "$PKG_DIR.partial"
  rm -rf "$PKG_DIR"
  mv "$PKG_DIR.partial" "$PKG_DIR"
  echo "install-test-deps: unpacked $(basename "$work"/docker.io_*.deb) into $PKG_DIR"
fi

echo "install-test-deps: ready:" \
  "docker-registry $(dpkg-query -W -f='${Version}' docker-registry)," \
  "skopeo $(dpkg-query -W -f='${Version}' skopeo)," \
  "podman $(dpkg-query -W -f='${Version}' podman)," \
  "containerd $(dpkg-query -W -f='${Version}' containerd)," \
  "dockerd $("$PKG_DIR/usr/sbin/dockerd" --version 2>/dev/null | sed 's/^Docker version //')," \
  "chromium $(dpkg-query -W -f='${Version}' chromium)," \
  "postgresql $(dpkg-query -W -f='${Version}' postgresql-15)," \
  "radosgw $(dpkg-query -W -f='${Version}' radosgw)"
