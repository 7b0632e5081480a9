#!/usr/bin/env bash
# Debian packages the VM lane needs on the host: qemu (full-system x86-64), debootstrap, mkfs.ext4
# and debugfs (e2fsprogs). The same installer as the test suite's (only what is missing; waits,
# bounded, for the dpkg lock, apt-get update's own lock included).
exec bash "$(dirname "$0")/../install-deps.sh" qemu-system-x86 debootstrap e2fsprogs
