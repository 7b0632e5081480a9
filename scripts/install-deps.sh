#!/usr/bin/env bash
# Debian packages the build, tests and benchmarks use: compilers for the embedded stage and helper
# (gcc; gcc-aarch64-linux-gnu for arm64), peers (bubblewrap, firejail), id-mapping helpers
# (uidmap), probes (libseccomp-dev for the peer filter, strace), tools (util-linux, iproute2,
# libcap2-bin, libcap-ng-utils, procps, hyperfine), qemu-user-static with an aarch64 C library
# (the arm64 and baseline binaries under emulation), and the servers the built-in profiles are
# tested with (nginx-light, redis-server + redis-tools, python3, jq). Installs only what is missing.
#
# Usage: install-deps.sh [PACKAGE...]   (default: the list below)
# Another apt or dpkg (unattended-upgrades on a fresh machine) may hold the dpkg lock: every apt
# step waits for it, at most APT_LOCK_WAIT seconds (default 300), instead of failing at once.
set -euo pipefail
wait_s=${APT_LOCK_WAIT:-300}
if [ $# -gt 0 ]; then pkgs=("$@"); else
  pkgs=(bubblewrap firejail uidmap gcc gcc-aarch64-linux-gnu libc6-dev libseccomp-dev strace util-linux iproute2 qemu-user-static libc6-arm64-cross
        libcap2-bin libcap-ng-utils procps hyperfine nginx-light python3 redis-server redis-tools jq)
fi
need=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "install-deps: missing Debian packages: ${need[*]} (run as root: apt-get install ${need[*]})" >&2
  exit 1
fi
echo "install-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt_get() { apt-get -o DPkg::Lock::Timeout="$wait_s" "$@"; }

# `apt-get update` does not honour DPkg::Lock::Timeout for its own lock (/var/lib/apt/lists/lock,
# checked with apt 2.6): retry while another process holds it, within the same bound. apt's
# locks are fcntl locks, so flock(1) cannot wait on them for us.
update() {
  local deadline=$((SECONDS + wait_s)) out
  until out=$(apt_get update -qq 2>&1); do
    if [[ $out != *"Could not get lock"* ]] || ((SECONDS >= deadline)); then
      echo "$out" >&2
      return 1
    fi
    sleep 2
  done
}

install_failed_on_lock=0
install() {
  local out
  out=$(apt_get install -y -qq --no-install-recommends "${need[@]}" 2>&1 >/dev/null) && return 0
  echo "$out" >&2
  [[ $out == *"Could not get lock"* ]] && install_failed_on_lock=1
  return 1
}

# Lists that already know every package spare the download; if installing from them fails (lists
# too old for the mirror; not a lock held past the bound), update and try once more.
known=1
for p in "${need[@]}"; do apt-cache show --no-all-versions "$p" >/dev/null 2>&1 || known=0; done
if [ $known = 0 ]; then
  update && install
elif ! install; then
  [ $install_failed_on_lock = 0 ] && update && install
fi
