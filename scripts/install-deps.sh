#!/usr/bin/env bash
# Debian packages the tests and benchmarks use: peers (bubblewrap, firejail), id-mapping helpers
# (uidmap), probes (gcc, libseccomp-dev for the peer filter, strace), tools (util-linux, iproute2,
# libcap2-bin, libcap-ng-utils, procps, hyperfine, nginx-light), qemu-user-static and
# libc6-arm64-cross (the arm64 and baseline binaries under emulation). Installs only what is missing.
set -euo pipefail
need=()
check() { dpkg -s "$1" >/dev/null 2>&1 || need+=("$1"); }
for p in bubblewrap firejail uidmap gcc libc6-dev libseccomp-dev strace util-linux iproute2 \
         libcap2-bin libcap-ng-utils procps hyperfine nginx-light python3 qemu-user-static libc6-arm64-cross; do check "$p"; done
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "install-deps: missing Debian packages: ${need[*]} (run as root: apt-get install ${need[*]})" >&2
  exit 1
fi
echo "install-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
