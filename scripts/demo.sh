#!/usr/bin/env bash
# The README demo: a real program in a jail, showing from inside what it can see. It needs only
# the built binary and what every Debian system has (sh, coreutils, grep, mawk, hostname):
# `npm run demo` installs no Debian package.
set -euo pipefail
jailx="$(cd "$(dirname "$0")/.." && pwd)/dist/jailx"
# A name no other run uses, to show from the host that the jail's /tmp was its own.
note="jailx-demo-$$"
# Start from / (no note about a working directory the jail lacks).
cd /
echo "\$ jailx run --net none --hostname demo --memory 64m --pids 64 --setenv NOTE=$note -- /bin/sh -c '…'" >&2
"$jailx" run --net none --hostname demo --memory 64m --pids 64 --setenv "NOTE=$note" -- /bin/sh -c '
  echo "== processes (a new pid namespace: jailx init is PID 1)"
  for p in /proc/[0-9]*; do echo "  ${p#/proc/} $(cat "$p/comm")"; done
  echo "== hostname"; hostname
  echo "== identity"; id
  echo "== capabilities / no_new_privs / seccomp"; grep -E "^(CapEff|CapBnd|NoNewPrivs|Seccomp)" /proc/self/status
  echo "== network (only loopback)"; tail -n +3 /proc/net/dev | cut -d: -f1
  echo "== filesystem: mount point, ro/rw, type (masks under /proc and entries under /dev left out)"
  awk "{ for (i = 7; \$i != \"-\"; i++); print \"  \" \$5, substr(\$6, 1, 2), \$(i + 1) }" /proc/self/mountinfo | grep -vE "^  /(proc|dev)/"
  echo "== a private /tmp: empty, writable, gone with the jail"
  echo "  entries before: $(ls -A /tmp | wc -l)"; echo hello > "/tmp/$NOTE" && echo "  wrote /tmp/$NOTE: $(cat "/tmp/$NOTE")"
  echo "== secrets stay hidden"; wc -c /etc/shadow 2>&1; ls /root /home 2>&1 | head -2
  echo "== writing to / fails:"; touch /hello 2>&1 || true
  echo "== the jail sees its own cgroup as /"; head -3 /proc/self/cgroup
'
echo "== on the host afterwards"
if [ -e "/tmp/$note" ]; then echo "  /tmp/$note exists on the host: the jail's /tmp was not private"; exit 1; fi
echo "  no /tmp/$note on the host: the jail's /tmp was its own"
