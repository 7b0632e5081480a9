#!/bin/bash
# jailx as the main process of a systemd service: with Delegate=yes the jail must be counted in
# the unit (delegation protocol); without, it gets its own scope and says so in one line. Both:
# `systemctl stop` removes everything.
J=/opt/lane/jailx
wait_for() { local i; for i in $(seq 1 600); do "$@" && return 0; sleep 0.1; done; return 1; }
marker_pid() { pgrep -f "^(/bin/)?sleep $1\$" | head -1; }
has_marker() { [ -n "$(marker_pid "$1")" ]; }
no_marker() { [ -z "$(marker_pid "$1")" ]; }
cg_of() { sed -n 's/^0:://p' "/proc/$1/cgroup" 2>/dev/null; }
if $J run -- /bin/true 2>&1 | grep -q '^jailx: this kernel lacks'; then echo "SKIP units all: the kernel lacks what jailx needs"; exit 0; fi
n=0
for mode in delegate plain; do
  ctx=unit-$mode; u=lane-$mode; n=$((n + 1)); mark=33.$n
  props=(); [ $mode = delegate ] && props=(-p Delegate=yes)
  systemd-run --quiet --unit=$u "${props[@]}" $J run --memory 64m --pids 32 -- /bin/sh -c "echo jail-says-$mode; exec sleep $mark"
  if ! wait_for has_marker $mark; then
    echo "FAIL $ctx start: the jail did not start: $(journalctl -q -u $u | tail -3 | tr '\n' ' ')"; systemctl stop $u; continue
  fi
  p=$(marker_pid $mark); cg=$(cg_of "$p")
  mem=$(cat "/sys/fs/cgroup$cg/memory.max" 2>/dev/null)
  [ "$mem" = 67108864 ] && echo "PASS $ctx limits-applied" || echo "FAIL $ctx limits-applied: $cg memory.max=$mem"
  if [ $mode = delegate ]; then
    case $cg in /system.slice/$u.service/jailx-*) echo "PASS $ctx jail-in-unit";; *) echo "FAIL $ctx jail-in-unit: $cg";; esac
    tasks=$(systemctl show -P TasksCurrent $u)
    [ "${tasks:-0}" -ge 3 ] 2>/dev/null && echo "PASS $ctx status-counts-jail" || echo "FAIL $ctx status-counts-jail: TasksCurrent=$tasks"
  else
    case $cg in */jailx-*.scope/jail) echo "PASS $ctx jail-in-scope";; *) echo "FAIL $ctx jail-in-scope: $cg";; esac
    if wait_for sh -c "journalctl -q -u $u | grep -q 'has no Delegate=yes'"; then echo "PASS $ctx says-fallback"
    else echo "FAIL $ctx says-fallback: $(journalctl -q -u $u | tail -3 | tr '\n' ' ')"; fi
  fi
  if wait_for sh -c "journalctl -q -u $u | grep -q jail-says-$mode"; then echo "PASS $ctx journal-output"; else echo "FAIL $ctx journal-output: not in journalctl -u $u"; fi
  systemctl stop $u
  if wait_for no_marker $mark && wait_for test ! -d "/sys/fs/cgroup$cg"; then echo "PASS $ctx stop-cleanup"
  else echo "FAIL $ctx stop-cleanup: left pid $(marker_pid $mark) cgroup $(ls -d /sys/fs/cgroup$cg 2>/dev/null)"; fi
  left=$(find /sys/fs/cgroup -name 'jailx-*' -type d 2>/dev/null)
  [ -z "$left" ] && echo "PASS $ctx no-leftovers" || echo "FAIL $ctx no-leftovers: $left"
done

# A unit file made by `jailx unit --notify`, installed and driven by systemctl: Type=notify
# readiness from inside the jail (READY=1 through the bound $NOTIFY_SOCKET), output in the
# journal, reload (SIGHUP to the program), stop with nothing left.
ctx=unit-file; u=lane-notify
mkdir -p /opt/lane-notify
cat > /opt/lane-notify/notify.py <<'PY'
import os, signal, socket, time
signal.signal(signal.SIGHUP, lambda *_: print("notify-reloaded", flush=True))
addr = os.environ["NOTIFY_SOCKET"]
addr = "\0" + addr[1:] if addr.startswith("@") else addr
print("notify-starting", flush=True)
socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"READY=1", addr)
while True:
    time.sleep(1)
PY
$J unit $u --notify --verbose --ro-bind /opt/lane-notify -- python3 /opt/lane-notify/notify.py > /etc/systemd/system/$u.service
systemctl daemon-reload
if timeout 60 systemctl start $u && [ "$(systemctl show -P ActiveState $u)" = active ]; then echo "PASS $ctx notify-ready"
else echo "FAIL $ctx notify-ready: $(systemctl show -P ActiveState $u) $(journalctl -q -u $u | tail -30 | tr '\n' ' ') PS: $(ps -eo pid,ppid,stat,wchan:20,args | grep -E 'jailx|python|busctl' | grep -v grep | tr '\n' ';') CG: $(systemd-cgls -u $u.service --no-pager 2>&1 | tr '\n' ';')"; fi
if wait_for sh -c "journalctl -q -u $u | grep -q notify-starting"; then echo "PASS $ctx journal-output"; else echo "FAIL $ctx journal-output: $(journalctl -q -u $u | tail -3 | tr '\n' ' ')"; fi
systemctl reload $u
if wait_for sh -c "journalctl -q -u $u | grep -q notify-reloaded"; then echo "PASS $ctx reload"; else echo "FAIL $ctx reload: $(journalctl -q -u $u | tail -3 | tr '\n' ' ')"; fi
systemctl stop $u
# ([n]: the pattern must not match the command line of the shell that runs pgrep)
if wait_for sh -c "! pgrep -f '/opt/lane-notify/[n]otify.py' >/dev/null && [ -z \"\$(find /sys/fs/cgroup -name 'jailx-*' -type d 2>/dev/null)\" ] && [ -z \"\$(ls /run/jailx/*.json 2>/dev/null)\" ]"; then echo "PASS $ctx stop-cleanup"
else echo "FAIL $ctx stop-cleanup: $(pgrep -af notify.py) $(find /sys/fs/cgroup -name 'jailx-*' -type d) $(ls /run/jailx/*.json 2>/dev/null)"; fi
rm -f /etc/systemd/system/$u.service; systemctl daemon-reload; rm -rf /opt/lane-notify
