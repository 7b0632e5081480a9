#!/usr/bin/env bash
# Debian packages the VM lane needs on the host: qemu (full-system x86-64), debootstrap, mkfs.ext4
# and debugfs (e2fsprogs). Installs only what is missing; waits (bounded) for the dpkg lock.
set -euo pipefail
need=()
for p in qemu-system-x86 debootstrap e2fsprogs; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "vm/install-deps: missing Debian packages: ${need[*]} (run as root: apt-get install ${need[*]})" >&2
  exit 1
fi
echo "vm/install-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
