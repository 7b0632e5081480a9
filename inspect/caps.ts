// Capability names and numbers are the launcher's table (sys/caps.ts, from the kernel's
// include/uapi/linux/capability.h); this file adds what the audit needs on top.
import { CAP_NAMES } from "../sys/caps.ts";

export { CAP_NAMES };

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
