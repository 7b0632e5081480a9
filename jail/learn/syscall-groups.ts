// Observed syscall names → the `syscalls` allow-list of a profile: a @group where the program
// used every member the machine has, names otherwise; plus what every jail needs.
import { GROUPS, expandGroup } from "../../sys/seccomp/groups.ts";
import { TABLES, currentMachine, type Abi } from "../../sys/seccomp/tables.ts";
import { ALWAYS_ALLOWED_IO, RUNTIME_NEEDS } from "./filter.ts";

/** Groups that describe a purpose, not a set someone "uses whole". */
const NOT_SUMMARIES = new Set(["@default", "@system-service", "@privileged", "@known"]);

/** Always in a learned allow-list: @default and the calls learning does not stop on. */
export const BASELINE = ["@default", ...ALWAYS_ALLOWED_IO, ...RUNTIME_NEEDS];

export function groupSyscalls(byAbi: Record<string, readonly string[]>, machine = currentMachine()): string[] {
  const native = machine as Abi;
  const names = new Set<string>();
  const extra: string[] = [];
  for (const [abi, list] of Object.entries(byAbi)) {
    for (const n of list) names.add(n);
    if (abi === "i386") extra.push("@abi-i386");
    if (abi === "x32") extra.push("@abi-x32");
  }
  const baseline = new Set(BASELINE.flatMap((b) => (b.startsWith("@") ? expandGroup(b) : [b])));
  for (const n of baseline) names.delete(n);
  const table = TABLES[native];
  const groups: string[] = [];
  for (const g of Object.keys(GROUPS).sort()) {
    if (NOT_SUMMARIES.has(g)) continue;
    const members = expandGroup(g).filter((m) => table.has(m) && !baseline.has(m));
    if (members.length >= 2 && members.every((m) => names.has(m))) groups.push(g);
  }
  const covered = new Set(groups.flatMap((g) => expandGroup(g)));
  const rest = [...names].filter((n) => !covered.has(n)).sort();
  return [...BASELINE, ...extra, ...groups, ...rest];
}

/** A profile's list back to names (for --merge): groups expanded, ABI and baseline kept as words. */
export function expandProfileSyscalls(list: readonly string[]): string[] {
  const out = new Set<string>();
  for (const item of list) {
    if (item.startsWith("@abi-") || BASELINE.includes(item)) continue;
    if (item.startsWith("@")) for (const n of expandGroup(item)) out.add(n);
    else out.add(item);
  }
  return [...out];
}
