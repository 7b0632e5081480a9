// Capabilities: names, the default set, and applying a set to all five sets of a process.
import { readFileSync } from "node:fs";
import { c, errno, ptr, syscall } from "./ffi.ts";
import { errnoName } from "./errno.ts";
import { SysError, UsageError } from "./errors.ts";
import { NR } from "./nr.ts";

/** Capability numbers (linux/capability.h), lowercase names without the cap_ prefix. */
export const CAP_NAMES: readonly string[] = [
  "chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid",
  "setpcap", "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw",
  "ipc_lock", "ipc_owner", "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct",
  "sys_admin", "sys_boot", "sys_nice", "sys_resource", "sys_time", "sys_tty_config", "mknod",
  "lease", "audit_write", "audit_control", "setfcap", "mac_override", "mac_admin", "syslog",
  "wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore",
];

/**
 * The set a jailed root keeps by default. It starts from what OCI runtimes give containers
 * (Docker's 14) and drops, as podman does, net_raw, mknod and audit_write, and also setfcap
 * and fsetid:
 * - net_raw: with the host network shared (the default) it captures and forges the host's
 *   traffic (AF_PACKET);
 * - mknod: a device node written through --bind is inert inside (nodev) but real on the host;
 * - setfcap: file capabilities written through --bind are honoured on the host, even ones
 *   outside the jail's bounding set;
 * - fsetid: the kernel clears S_ISUID (and S_ISGID with group-exec) when a file is written or
 *   truncated, unless the writer holds it; with it, a jailed root rewrites an existing
 *   setuid-root binary in a --bind directory and the bit survives for host users to run;
 * - audit_write: nothing a jailed program needs.
 * Everything that reaches outside the jail (sys_admin, sys_ptrace, sys_module, net_admin,
 * dac_read_search, …) is absent too. --cap-add brings any of them back.
 */
export const DEFAULT_CAPS: readonly string[] = [
  "chown", "dac_override", "fowner", "kill", "setgid", "setuid", "setpcap", "net_bind_service",
  "sys_chroot",
];

/** Accepts NET_ADMIN, CAP_NET_ADMIN, cap_net_admin, net_admin. */
export function capNumber(name: string): number {
  const n = name.toLowerCase().replace(/^cap_/, "");
  const i = CAP_NAMES.indexOf(n);
  if (i < 0) throw new UsageError(`unknown capability '${name}': use a name like NET_ADMIN (see capabilities(7))`);
  return i;
}

export function capName(n: number): string {
  return CAP_NAMES[n] ?? `cap_${n}`;
}

export function lastCap(): number {
  try {
    return Number(readFileSync("/proc/sys/kernel/cap_last_cap", "utf8").trim());
  } catch {
    return CAP_NAMES.length - 1;
  }
}

export function maskOf(caps: readonly number[]): bigint {
  return caps.reduce((m, n) => m | (1n << BigInt(n)), 0n);
}

const PR_CAPBSET_DROP = 24;
const PR_SET_KEEPCAPS = 8;
const PR_CAP_AMBIENT = 47, PR_CAP_AMBIENT_RAISE = 2, PR_CAP_AMBIENT_CLEAR_ALL = 4;
const PR_SET_NO_NEW_PRIVS = 38;
const LINUX_CAPABILITY_VERSION_3 = 0x20080522;

function fail(name: string, flags?: string): never {
  const e = errno();
  throw new SysError(name, errnoName(e), e, undefined, flags);
}

/** Remove every capability not in `keep` from the bounding set (needs CAP_SETPCAP). */
export function dropBounding(keep: bigint): void {
  const last = lastCap();
  for (let n = 0; n <= last; n++) {
    if (keep & (1n << BigInt(n))) continue;
    if (c.prctl(PR_CAPBSET_DROP, n, 0, 0, 0) < 0 && errno() !== 22) fail("prctl", `PR_CAPBSET_DROP ${capName(n)}`);
  }
}

export function setKeepCaps(on: boolean): void {
  if (c.prctl(PR_SET_KEEPCAPS, on ? 1 : 0, 0, 0, 0) < 0) fail("prctl", "PR_SET_KEEPCAPS");
}

/** capset: permitted, effective and inheritable at once. */
export function setCapSets(permitted: bigint, effective: bigint, inheritable: bigint): void {
  const header = new Uint32Array([LINUX_CAPABILITY_VERSION_3, 0]);
  const lo = (m: bigint) => Number(m & 0xffffffffn);
  const hi = (m: bigint) => Number((m >> 32n) & 0xffffffffn);
  const data = new Uint32Array([
    lo(effective), lo(permitted), lo(inheritable),
    hi(effective), hi(permitted), hi(inheritable),
  ]);
  if (syscall(NR.capset, ptr(header), ptr(data)) < 0n) fail("capset");
}

export function setAmbient(caps: bigint): void {
  if (c.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) fail("prctl", "PR_CAP_AMBIENT_CLEAR_ALL");
  for (let n = 0; n < 64; n++)
    if (caps & (1n << BigInt(n)))
      if (c.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, n, 0, 0) < 0) fail("prctl", `PR_CAP_AMBIENT_RAISE ${capName(n)}`);
}

export function setNoNewPrivs(): void {
  if (c.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) fail("prctl", "PR_SET_NO_NEW_PRIVS");
}
