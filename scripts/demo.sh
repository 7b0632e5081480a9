#!/usr/bin/env bash
# The README demo: a real program in a jail, showing from inside what it can see.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "\$ jailx run --net none --memory 64m --pids 64 -- /bin/sh -c '…'" >&2
exec ./dist/jailx run --net none --hostname demo --memory 64m --pids 64 -- /bin/sh -c '
  echo "== processes (a new pid namespace: jailx init is PID 1)"; ps -eo pid,user,comm
  echo "== hostname"; hostname
  echo "== identity"; id
  echo "== capabilities / no_new_privs / seccomp"; grep -E "^(CapEff|CapBnd|NoNewPrivs|Seccomp)" /proc/self/status
  echo "== network (only loopback)"; cat /proc/net/dev | tail -n +3 | cut -d: -f1
  echo "== filesystem (read-only root, private /tmp)"; cat /proc/self/mountinfo | cut -d" " -f5,6 | head -20
  echo "== secrets stay hidden"; wc -c /etc/shadow; ls /root /home 2>&1 | head -2
  echo "== writing to / fails:"; touch /hello 2>&1 || true
  echo "== the jail sees its own cgroup as /"; cat /proc/self/cgroup | head -3
'
