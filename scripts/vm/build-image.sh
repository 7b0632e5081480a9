#!/usr/bin/env bash
# Builds a bootable Debian guest image for the VM lane, from Debian's packages only.
#   build-image.sh DIST OUTDIR     (DIST: bookworm | bullseye)
# Produces OUTDIR/{disk.img,vmlinuz,initrd.img,recipe}. Runs as root (debootstrap, chroot).
# The mirror is the one this machine's apt is configured with (first deb.debian.org-style URI).
# Everything the guest needs is baked here; the lane passes only dist/jailx and the test
# script in at boot (a tar on a second, read-only disk), so the image is reusable across builds.
set -euo pipefail
dist=${1:?usage: build-image.sh DIST OUTDIR}
out=${2:?usage: build-image.sh DIST OUTDIR}
arch=${ARCH:-amd64}

mirror=${VM_MIRROR:-}
if [[ -z $mirror ]]; then
  mirror=$( { cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null || true; } \
    | grep -E '^(URIs:|deb )' | grep -v security | sed -E 's/^URIs: *//; s/^deb +(\[[^]]*\] +)?//' | awk '{print $1}' | head -1 || true)
fi
[[ -n $mirror ]] || { echo "build-image: no Debian mirror found in /etc/apt/sources.list*; set VM_MIRROR" >&2; exit 2; }

rm -rf "$out.tmp"; mkdir -p "$out.tmp"
root="$out.tmp/rootfs"
pkgs=systemd-sysv,udev,iproute2,procps,util-linux,dbus,dbus-user-session,libpam-systemd,kmod,initramfs-tools,linux-image-$arch,python3-minimal,nginx-light,sudo,tar,libcap2-bin
echo "build-image: debootstrap $dist from $mirror" >&2
debootstrap --variant=minbase --arch="$arch" --include="$pkgs" "$dist" "$root" "$mirror" >"$out.tmp/debootstrap.log" 2>&1 \
  || { tail -20 "$out.tmp/debootstrap.log" >&2; exit 1; }

echo "lane" > "$root/etc/hostname"
echo "/dev/vda / ext4 rw,errors=remount-ro 0 1" > "$root/etc/fstab"
# A fixed machine-id: the image is identical on every boot (and the journal stays in one place).
echo 4a61696c78566d4c616e654d61636869 > "$root/etc/machine-id"
chroot "$root" passwd -d root >/dev/null
chroot "$root" useradd -m -u 1000 -s /bin/bash jx
mkdir -p "$root/var/lib/systemd/linger"; touch "$root/var/lib/systemd/linger/jx"
# Units that only slow an emulated boot down, or would race the tests.
for u in apt-daily.timer apt-daily-upgrade.timer fstrim.timer e2scrub_all.timer e2scrub_reap.service \
         dpkg-db-backup.timer man-db.timer nginx.service systemd-timesyncd.service getty@tty1.service; do
  ln -sf /dev/null "$root/etc/systemd/system/$u"
done
# The runner: unpacks the payload disk and runs the suite, results on the second serial port.
install -m 0755 "$(dirname "$0")/guest-runner.sh" "$root/usr/local/sbin/lane-runner"
cat > "$root/etc/systemd/system/lane.service" <<'UNIT'
[Unit]
Description=jailx VM lane
After=multi-user.target user@1000.service systemd-logind.service
Wants=user@1000.service
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/lane-runner
ExecStopPost=/bin/systemctl --no-block poweroff
StandardOutput=journal+console
TimeoutStartSec=infinity
[Install]
WantedBy=multi-user.target
UNIT
ln -sf /etc/systemd/system/lane.service "$root/etc/systemd/system/multi-user.target.wants/lane.service"

kver=$(ls "$root/lib/modules" | head -1)
cp "$root/boot/vmlinuz-$kver" "$out.tmp/vmlinuz"
cp "$root/boot/initrd.img-$kver" "$out.tmp/initrd.img"
chmod 0644 "$out.tmp/vmlinuz" "$out.tmp/initrd.img"
rm -rf "$root/var/cache/apt/archives/"*.deb
truncate -s 3G "$out.tmp/disk.img"
mkfs.ext4 -q -F -L root -d "$root" "$out.tmp/disk.img"
echo "dist=$dist arch=$arch kernel=$kver mirror=$mirror" > "$out.tmp/recipe"
rm -rf "$root"
rm -rf "$out"; mv "$out.tmp" "$out"
echo "build-image: $out ($kver)" >&2
