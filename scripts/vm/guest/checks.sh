#!/bin/bash
# End-to-end checks of dist/jailx inside a booted Debian guest, in one context:
#   checks.sh CONTEXT        (service | login | user)
# Prints one line per check: "PASS CONTEXT NAME", "FAIL CONTEXT NAME: why" or "SKIP CONTEXT NAME: why".
# Runs as whoever the context is (root, or the unprivileged user jx); suite.sh starts it.
ctx=${1:?context}
J=/opt/lane/jailx
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

pass() { echo "PASS $ctx $1"; }
fail() { echo "FAIL $ctx $1: $2"; }
skip() { echo "SKIP $ctx $1: $2"; }
# run NAME EXPECTED-STATUS CMD...: the status must match; output in $T/out, $T/err.
expect_status() {
  local name=$1 want=$2; shift 2
  "$@" >"$T/out" 2>"$T/err"; local got=$?
  if [ "$got" = "$want" ]; then pass "$name"; return 0; fi
  fail "$name" "status $got, wanted $want; stderr: $(head -c 300 "$T/err" | tr '\n' ' ')"; return 1
}
# wait_for CMD...: retry up to 60 s (no fixed sleeps as synchronisation: poll a condition).
wait_for() { local i; for i in $(seq 1 600); do "$@" && return 0; sleep 0.1; done; return 1; }
marker_pid() { pgrep -f "^(/bin/)?sleep $1\$" | head -1; }
has_marker() { [ -n "$(marker_pid "$1")" ]; }
no_marker() { [ -z "$(marker_pid "$1")" ]; }
cg_of() { sed -n 's/^0:://p' "/proc/$1/cgroup" 2>/dev/null; }
leftover_cgroups() { find /sys/fs/cgroup -name 'jailx-*' -type d 2>/dev/null | grep -v -- '-sup$'; }

echo "INFO $ctx uid=$(id -u) cgroup=$(cg_of self) kernel=$(uname -r) cpus=$(nproc)"

# -- a kernel jailx cannot use: one clear line, and the rest skipped visibly -------------------
$J run -- /bin/true >"$T/out" 2>"$T/err"; st=$?
if [ $st = 125 ] && grep -q '^jailx: this kernel lacks' "$T/err"; then
  if [ "$(grep -c '^jailx: this kernel lacks' "$T/err")" = 1 ]; then pass refuses-clearly; else fail refuses-clearly "$(cat "$T/err")"; fi
  skip run-checks "$(grep '^jailx: this kernel lacks' "$T/err" | cut -c1-160)"
  expect_status help 0 $J --help
  expect_status seccomp-show 0 $J seccomp show
  sleep 60 & sp=$!
  expect_status inspect 0 $J inspect $sp; kill $sp
  exit 0
fi

# -- basics --------------------------------------------------------------------------------
expect_status run-true 0 $J run -- /bin/true
expect_status exit-status 3 $J run -- /bin/sh -c 'exit 3'
expect_status not-found 127 $J run -- /no/such/program
expect_status readonly-root 2 $J run -- /bin/sh -c 'echo x > /etc/jailx-probe'
expect_status help 0 $J --help
expect_status seccomp-show 0 $J seccomp show

# -- a kernel without mount_setattr (Linux < 5.12, e.g. Debian 11's 5.10): the view's flags are set
# by mount(2) remounts after each attach (jail/child.ts). Detected from the op list the run would
# replay, not from a version number; on a newer kernel (bookworm) this block does not run.
if $J run --dry-run --verbose -- /bin/true 2>/dev/null | grep -q 'MS_REMOUNT|MS_BIND'; then
  pass remount-path
  D=$(mktemp -d /var/tmp/jx-ro.XXXX); mkdir "$D/ro" "$D/rw"; chmod 0755 "$D" "$D/ro"; chmod 0777 "$D/rw"; echo hi >"$D/ro/f"
  $J run --ro-bind "$D/ro:/ro" --bind "$D/rw:/rw" -- /bin/sh -c '
    touch /usr/jx-probe 2>&1; touch /ro/x 2>&1; echo w >/rw/written && echo rw-ok; cat /ro/f
    # hidden: absent (an overlay whiteout), or /dev/null over it (the masks where overlayfs cannot
    # be mounted: in a user namespace before Linux 5.11)
    for f in /etc/shadow /etc/gshadow; do [ -e $f ] && ! [ -c $f ] && echo secret-visible:$f; done; [ -r /etc/passwd ] && echo etc-ok
    echo "nosuid-missing $(grep -vc nosuid /proc/self/mountinfo)"
    for m in / /usr /etc /ro /rw /tmp /proc/sys; do echo "mnt $m $(awk -v m="$m" '"'"'$5 == m {print $6}'"'"' /proc/self/mountinfo | tail -1)"; done
    echo "kallsyms $(wc -c </proc/kallsyms 2>&1)"' >"$T/out" 2>"$T/err"; st=$?
  got() { grep -q -- "$1" "$T/out"; }
  flags() { awk -v m="$1" '$1 == "mnt" && $2 == m {print $3}' "$T/out"; }
  if [ $st = 0 ] && [ "$(grep -c 'Read-only file system' "$T/out")" = 2 ]; then pass remount-readonly; else fail remount-readonly "status $st: $(head -c 300 "$T/out" "$T/err" | tr '\n' ' ')"; fi
  if got rw-ok && [ "$(cat "$D/rw/written" 2>/dev/null)" = w ] && got '^hi$'; then pass remount-bind-rw; else fail remount-bind-rw "$(head -c 300 "$T/out" | tr '\n' ' ')"; fi
  if ! got secret-visible && got etc-ok; then pass remount-etc-hidden; else fail remount-etc-hidden "$(head -c 300 "$T/out" | tr '\n' ' ')"; fi
  bad=; for m in / /usr /etc /ro /proc/sys; do case ",$(flags $m)," in *,ro,*nosuid,nodev,*) ;; *) bad="$bad $m=$(flags $m)";; esac; done
  for m in /rw /tmp; do case ",$(flags $m)," in *,rw,*nosuid,nodev,*) ;; *) bad="$bad $m=$(flags $m)";; esac; done
  if [ -z "$bad" ] && got '^nosuid-missing 0$'; then pass remount-flags; else fail remount-flags "$bad $(grep nosuid-missing "$T/out")"; fi
  if got "^kallsyms 0$" && [ "$(head -c 1 /proc/kallsyms | wc -c)" = 1 ]; then pass remount-proc-masked; else fail remount-proc-masked "$(grep kallsyms "$T/out")"; fi
  if [ "$(id -u)" = 0 ]; then
    # A host mount beneath a read-only bind (here a noexec tmpfs, in a private mount namespace):
    # remounted read-only too, keeping its own flags; the host's mount is left as it was.
    mkdir "$D/ro/sub"
    unshare -m --propagation private sh -c 'mount -t tmpfs -o noexec,size=1m jx-sub "$1/ro/sub" && "$2" run --ro-bind "$1/ro:/t" -- /bin/sh -c "touch /t/sub/x 2>&1; awk '"'"'\$5 == \"/t/sub\" {print \$6}'"'"' /proc/self/mountinfo" && touch "$1/ro/sub/host-side" && grep " $1/ro/sub " /proc/self/mountinfo' sh "$D" "$J" >"$T/out" 2>"$T/err"; st=$?
    if [ $st = 0 ] && grep -q 'Read-only file system' "$T/out" && grep -qx 'ro,nosuid,nodev,noexec,relatime' "$T/out" && grep -q ' rw,noexec' "$T/out"; then pass remount-submount
    else fail remount-submount "status $st: $(head -c 400 "$T/out" "$T/err" | tr '\n' ' ')"; fi
  fi
  rm -rf "$D"
fi

# The masks come from the host's /proc read only up to its first process (procfs lists its own
# entries first): the last file it lists before the processes is masked as well.
last=$(ls -f /proc | grep -v '^[0-9]*$' | while read -r n; do [ -f "/proc/$n" ] && [ ! -L "/proc/$n" ] && case " cpuinfo meminfo stat uptime loadavg vmstat version filesystems cgroups mounts " in *" $n "*) ;; *) echo "$n";; esac; done | tail -1)
if [ -n "$last" ] && $J run -- /bin/sh -c "awk '\$5 == \"/proc/$last\"' /proc/self/mountinfo" 2>"$T/err" | grep -q .; then pass proc-masked-last-listed; else fail proc-masked-last-listed "/proc/$last not masked: $(head -c 300 "$T/err" | tr '\n' ' ')"; fi

# -- cgroup limits, no configuration ---------------------------------------------------------
if expect_status limits-run 0 $J run --memory 64m --pids 32 -- /bin/true; then :; fi
# Limits seen from outside: the jail's cgroup has memory.max and pids.max as asked.
$J run --memory 64m --pids 32 -- /bin/sleep 31.1 >"$T/bg.out" 2>"$T/bg.err" &
sup=$!
if wait_for has_marker 31.1; then
  p=$(marker_pid 31.1); cg=$(cg_of "$p")
  mem=$(cat "/sys/fs/cgroup$cg/memory.max" 2>/dev/null); pids=$(cat "/sys/fs/cgroup$cg/pids.max" 2>/dev/null)
  if [ "$mem" = 67108864 ] && [ "$pids" = 32 ]; then pass limits-applied; else fail limits-applied "cgroup $cg memory.max=$mem pids.max=$pids"; fi
  if $J inspect "$p" >"$T/insp" 2>&1 && grep -q 'memory limit *64 MiB' "$T/insp" && grep -q 'pids limit *32' "$T/insp"; then pass inspect-v2-limits
  else fail inspect-v2-limits "$(grep -E 'memory limit|pids limit' "$T/insp" | tr -s ' ' | tr '\n' ';')"; fi
  # SIGKILL of the supervisor: the jail and its cgroup go away anyway.
  kill -9 "$sup"; wait "$sup" 2>/dev/null
  if wait_for no_marker 31.1 && wait_for test ! -d "/sys/fs/cgroup$cg"; then pass sigkill-cleanup
  else fail sigkill-cleanup "left: pid $(marker_pid 31.1) cgroup $(ls -d /sys/fs/cgroup$cg 2>/dev/null)"; fi
else
  fail limits-applied "the jail did not start: $(head -c 300 "$T/bg.err")"; kill -9 "$sup" 2>/dev/null; wait "$sup" 2>/dev/null
fi

# The default --pids 2048, no flag: applied through the same placement (a transient scope here),
# and without a word about it on stderr (where the jail went is --verbose detail for the default
# alone; other notes, e.g. Landlock's on these kernels, may be there).
$J run -- /bin/sleep 31.3 >"$T/bg.out" 2>"$T/bg.err" &
sup=$!
if wait_for has_marker 31.3; then
  p=$(marker_pid 31.3); cg=$(cg_of "$p"); pids=$(cat "/sys/fs/cgroup$cg/pids.max" 2>/dev/null)
  if [ "$pids" = 2048 ]; then pass default-pids; else fail default-pids "cgroup $cg pids.max=$pids"; fi
  kill -TERM "$sup"; wait "$sup" 2>/dev/null
  if ! grep -qiE 'pids|scope|delegate|cgroup' "$T/bg.err"; then pass default-pids-quiet; else fail default-pids-quiet "stderr: $(grep -iE 'pids|scope|delegate|cgroup' "$T/bg.err" | head -c 300 | tr '\n' ' ')"; fi
  if wait_for no_marker 31.3 && wait_for test ! -d "/sys/fs/cgroup$cg"; then pass default-pids-cleanup; else fail default-pids-cleanup "left: $cg"; fi
else
  fail default-pids "the jail did not start: $(head -c 300 "$T/bg.err")"; kill -9 "$sup" 2>/dev/null; wait "$sup" 2>/dev/null
fi

# In a scope with Delegate=yes (systemd-run [--user] --scope -p Delegate=yes): jailx follows the
# delegation protocol — itself into a leaf, the jail a sibling inside the scope, limits there.
if [ "$ctx" != service ]; then
  user=; [ "$(id -u)" != 0 ] && user=--user
  systemd-run $user --scope -p Delegate=yes -q $J run --memory 64m --pids 32 -- /bin/sleep 31.2 >"$T/bg.out" 2>"$T/bg.err" &
  sup=$!
  if wait_for has_marker 31.2; then
    p=$(marker_pid 31.2); cg=$(cg_of "$p"); mem=$(cat "/sys/fs/cgroup$cg/memory.max" 2>/dev/null)
    case $cg in */run-*.scope/jailx-*) [ "$mem" = 67108864 ] && pass delegated-scope || fail delegated-scope "$cg memory.max=$mem";;
      *) fail delegated-scope "jail not inside the delegated scope: $cg";; esac
    kill -TERM "$sup"; wait "$sup" 2>/dev/null
    if wait_for no_marker 31.2 && wait_for test ! -d "/sys/fs/cgroup$cg"; then pass delegated-scope-cleanup; else fail delegated-scope-cleanup "left: $cg"; fi
  else
    fail delegated-scope "the jail did not start: $(head -c 300 "$T/bg.err")"; kill -9 "$sup" 2>/dev/null; wait "$sup" 2>/dev/null
  fi
fi

# OOM: reported as such (137 + one line) and contained.
expect_status oom-137 137 $J run --memory 32m --memory-swap 32m -- /usr/bin/python3 -c 'b = b"x" * (256 << 20)' \
  && { grep -q 'out of memory' "$T/err" && pass oom-message || fail oom-message "stderr: $(head -c 200 "$T/err")"; }
# The smallest limit jailx takes (1m) still starts a program: the jail's processes share the
# supervisor's memory until their execve (CLONE_VM), and an OOM kill in the jail's cgroup then
# would take the supervisor along (the kernel kills every process sharing a victim's memory).
expect_status tiny-memory 0 $J run --memory 1m -- /bin/true
# CPU affinity: the jail's init is kept off the supervisor's CPU only while the jail is built
# (sys/cpus.ts); the program and jailx's init then run on the caller's CPUs, in a cgroup or not.
own=$(sed -n 's/^Cpus_allowed_list:\s*//p' /proc/self/status)
aff=$($J run -- /bin/sh -c "sed -n 's/^Cpus_allowed_list:\s*//p' /proc/self/status /proc/1/status" 2>"$T/err" | tr '\n' ' ')
if [ "$aff" = "$own $own " ]; then pass affinity; else fail affinity "program and init on '$aff', the caller on '$own'; $(head -c 200 "$T/err")"; fi
# Fork bomb: --pids stops it; the jail ends and nothing is left.
cat >"$T/bomb.py" <<'EOF'
import os, time
n = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(60); os._exit(0)
        n += 1
except OSError as e:
    print("stopped", n, e.errno)
EOF
chmod 0644 "$T/bomb.py"; chmod 0755 "$T"
if expect_status forkbomb 0 $J run --pids 16 --ro-bind "$T" -- /usr/bin/python3 "$T/bomb.py"; then
  n=$(awk '/^stopped/ {print $2}' "$T/out")
  if [ -n "$n" ] && [ "$n" -lt 16 ]; then pass forkbomb-contained; else fail forkbomb-contained "output: $(cat "$T/out")"; fi
fi
bomb_gone() { ! pgrep -f "$T/bomb.py" >/dev/null; }
if wait_for bomb_gone; then pass forkbomb-gone; else fail forkbomb-gone "still running: $(pgrep -f "$T/bomb.py" | tr '\n' ' ')"; fi

# -- kernel features: reported, not silently skipped ----------------------------------------
if $J run --dry-run -- /bin/true >"$T/dry" 2>"$T/err"; then pass dry-run; else fail dry-run "$(head -c 200 "$T/err")"; fi
# The guests' kernels (6.1, 5.10) have no Landlock scoping (ABI 6): an explicit --landlock is refused.
"$J" run --landlock -- /bin/true >"$T/out" 2>"$T/err"; st=$?
if [ $st = 125 ] && [ "$(wc -l <"$T/err")" -le 2 ] && grep -qi 'landlock' "$T/err"; then pass landlock-explicit-refused
else fail landlock-explicit-refused "status $st: $(head -c 300 "$T/err" | tr '\n' ' ')"; fi
if grep -q '"landlock": true' "$T/dry"; then fail dry-run-landlock "--dry-run claims Landlock scoping"; else pass dry-run-landlock; fi

# -- a plain chroot (its root is not a mount point): one line with cause and fix; the fix works ----
chroot_run() { # chroot_run bind|plain — all mounts in a private mount namespace of their own
  local cr; cr=$(mktemp -d /var/tmp/chroot.XXXX); mkdir -p "$cr/opt/lane"; cp "$J" "$cr/opt/lane/jailx"
  unshare -m --propagation private sh -c '
    cr=$1; [ "$2" = bind ] && mount --bind "$cr" "$cr"
    mkdir -p "$cr/usr" "$cr/etc" "$cr/proc" "$cr/dev" "$cr/sys" "$cr/tmp"
    for d in usr etc dev proc sys; do mount --rbind "/$d" "$cr/$d"; done
    ln -s usr/bin "$cr/bin"; ln -s usr/lib "$cr/lib"; ln -s usr/lib64 "$cr/lib64"
    exec chroot "$cr" /opt/lane/jailx run --net none -- /bin/echo inside' sh "$cr" "$1" >"$T/out" 2>"$T/err"
  local st=$?; rm -rf "$cr"; return $st
}
if [ "$(id -u)" = 0 ]; then
  chroot_run plain; st=$?
  if [ $st = 125 ] && [ "$(wc -l <"$T/err")" = 1 ] && grep -q 'chroot whose root is not a mount point' "$T/err"; then pass chroot-refused-clearly
  else fail chroot-refused-clearly "status $st: $(head -c 300 "$T/err" | tr '\n' ' ')"; fi
  chroot_run bind; st=$?
  if [ $st = 0 ] && [ "$(cat "$T/out")" = inside ]; then pass chroot-mountpoint-works; else fail chroot-mountpoint-works "status $st: $(head -c 300 "$T/err" | tr '\n' ' ')"; fi
fi

if [ -z "$(leftover_cgroups)" ]; then pass no-leftovers; else fail no-leftovers "$(leftover_cgroups | tr '\n' ' ')"; fi
