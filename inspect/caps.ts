// Capability numbers → names, from the kernel's include/uapi/linux/capability.h (Linux 6.18).
export const CAP_NAMES: readonly string[] = [
  "chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid",
  "setpcap", "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw",
  "ipc_lock", "ipc_owner", "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct",
  "sys_admin", "sys_boot", "sys_nice", "sys_resource", "sys_time", "sys_tty_config", "mknod",
  "lease", "audit_write", "audit_control", "setfcap", "mac_override", "mac_admin", "syslog",
  "wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore",
];

/** Capabilities that, held against the host, amount to (or lead straight to) full control. */
export const DANGEROUS_CAPS: readonly string[] = [
  "sys_admin", "sys_ptrace", "sys_module", "sys_rawio", "net_admin", "dac_read_search",
  "dac_override", "sys_boot", "bpf", "perfmon", "mac_admin", "mac_override",
];

/** Hex mask (as in /proc/PID/status) → capability names; unknown bits as "cap_N". */
export function capNames(hex: string): string[] {
  // most processes share a handful of masks: decode each once (callers must not mutate)
  let out = decoded.get(hex);
  if (!out) decoded.set(hex, (out = decode(hex)));
  return out;
}
const decoded = new Map<string, string[]>();

function decode(hex: string): string[] {
  const mask = BigInt("0x" + (hex || "0"));
  const out: string[] = [];
  for (let i = 0n; mask >> i !== 0n; i++) {
    if ((mask >> i) & 1n) out.push(CAP_NAMES[Number(i)] ?? `cap_${i}`);
  }
  return out;
}

/** Accepts "SYS_ADMIN", "cap_sys_admin", "sys_admin". */
export function normalizeCapName(name: string): string {
  return name.toLowerCase().replace(/^cap_/, "");
}

/** All capabilities this kernel knows (from a full bounding set) — used to say "all". */
export function isFullSet(hex: string): boolean {
  return capNames(hex).length >= CAP_NAMES.length;
}
