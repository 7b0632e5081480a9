#!/bin/bash
# The guest side of the VM lane, run as root by lane.service (a plain system service) once the
# guest is up. Runs checks.sh in each context and the systemd-unit checks; prints PASS/FAIL/SKIP
# lines (the host counts them) and TIME lines.
L=/opt/lane
chmod 0755 $L $L/jailx $L/*.sh
t0=$(date +%s.%N)
since() { echo "$(date +%s.%N) $t0" | awk '{printf "%.1f", $1 - $2}'; }
echo "INFO guest $(. /etc/os-release; echo "$PRETTY_NAME") kernel $(uname -r) systemd $(systemctl --version | head -1 | cut -d' ' -f2) cgroup $(stat -fc %T /sys/fs/cgroup) cpu $(grep -m1 -o -w avx2 /proc/cpuinfo || echo no-avx2)"
echo "TIME boot $(cut -d' ' -f1 /proc/uptime)"

# 1. root from a systemd service (this unit: no Delegate=).
$L/checks.sh service
echo "TIME service $(since)"

# 2. root from a login session (pam_systemd gives su -l a session-N.scope).
su -l root -c "$L/checks.sh login" </dev/null
echo "TIME login $(since)"

# 3. rootless: the user jx, logged in (session scope + its user@1000.service manager, lingering).
su -l jx -c "$L/checks.sh user" </dev/null
echo "TIME user $(since)"

# 4. systemd units running jailx as their main process, with and without Delegate=yes.
$L/units.sh
echo "TIME units $(since)"
