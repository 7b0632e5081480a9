// What learning records: plain data, merged across runs (--merge) and turned into a profile
// (profile.ts). Paths are as the jail saw them, symlinks resolved inside the jail's root.
import type { Access } from "./syscalls.ts";
import type { NodeKind } from "./tracee.ts";

export interface PathUse {
  access: Access[];
  kind: NodeKind;
  /** an ELF file (executable or shared object: it is mapped executable) */
  elf?: boolean;
}

export interface Recording {
  /** syscall names seen, per ABI */
  syscalls: Record<string, string[]>;
  /** numbers no table names, as "abi:nr" */
  unknownSyscalls: string[];
  paths: Record<string, PathUse>;
  /** a path the program named → the path it resolved to (symlinks on the way) */
  aliases: Record<string, string>;
  /** socket families created: unix, inet, inet6, netlink, packet, or a number */
  families: string[];
  /** "tcp:0.0.0.0:80", "udp:[::]:53", "unix:@name" */
  listen: string[];
  connect: string[];
  /** id changes: "setuid 33", "setgroups 33", … */
  ids: string[];
  /** capabilities the observed calls need */
  caps: string[];
  /** a signal was sent (kill, tgkill…) */
  signals: boolean;
  programs: string[];
  runs: number;
  /** paths recorded so far, counting those beyond the limit */
  pathCount?: number;
  /** more paths than the recorder keeps: the profile is incomplete */
  truncated?: boolean;
}

export function emptyRecording(): Recording {
  return { syscalls: {}, unknownSyscalls: [], paths: {}, aliases: {}, families: [], listen: [], connect: [], ids: [], caps: [], signals: false, programs: [], runs: 0 };
}

const union = (a: readonly string[], b: readonly string[]) => [...new Set([...a, ...b])].sort();

export function mergeRecordings(a: Recording, b: Recording): Recording {
  const out = emptyRecording();
  for (const abi of new Set([...Object.keys(a.syscalls), ...Object.keys(b.syscalls)]))
    out.syscalls[abi] = union(a.syscalls[abi] ?? [], b.syscalls[abi] ?? []);
  for (const r of [a, b])
    for (const [path, use] of Object.entries(r.paths)) {
      const have = out.paths[path];
      out.paths[path] = have ? { ...have, access: union(have.access, use.access) as Access[], elf: have.elf || use.elf } : { ...use, access: [...use.access] };
    }
  out.aliases = { ...a.aliases, ...b.aliases };
  for (const k of ["unknownSyscalls", "families", "listen", "connect", "ids", "caps", "programs"] as const) out[k] = union(a[k], b[k]);
  out.signals = a.signals || b.signals;
  out.truncated = a.truncated || b.truncated;
  out.runs = a.runs + b.runs;
  return out;
}
