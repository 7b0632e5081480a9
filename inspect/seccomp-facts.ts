// What the decoded seccomp filters mean together. Stacked filters all run; the kernel applies the
// most restrictive result, so a syscall is allowed only if every filter allows it (allow or log).
import { isUnknown, unknown, type FilterDigest, type Known, type Snapshot } from "./snapshot.ts";

/**
 * Syscalls a contained process rarely needs and that are large attack surface: those Docker's
 * default profile never allows, or allows only with the matching capability (see
 * /work/shared/notes/seccomp-reference.md, read from the public moby default profile).
 */
export const RISKY_SYSCALLS: readonly string[] = [
  "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "bpf",
  "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register", "keyctl", "add_key",
  "request_key", "perf_event_open", "mount", "umount2", "pivot_root", "open_by_handle_at",
  "ptrace", "process_vm_writev", "unshare", "setns", "swapon", "swapoff", "reboot", "acct", "uselib",
];

const ALLOWED = new Set(["allow", "log"]);

export interface SeccompFacts {
  /** the machine's main ABI (x86_64, aarch64) */
  readonly native: string;
  /** other ABIs (i386, x32) that no filter restricts at all */
  readonly openAbis: string[];
  /** risky syscalls every filter allows on the native ABI, whatever the arguments */
  readonly riskyAllowed: string[];
  /** risky syscalls allowed depending on their arguments */
  readonly riskyConditional: string[];
}

type Abi = FilterDigest["abis"][number];

function actionOf(a: Abi, name: string): string {
  if (a.wholeAbiAction) return a.wholeAbiAction;
  for (const [act, names] of Object.entries(a.exceptions)) if (names.includes(name)) return act;
  return a.defaultAction;
}

/** Every syscall of this ABI goes through unfiltered in this filter. */
function abiOpen(a: Abi): boolean {
  if (a.wholeAbiAction) return ALLOWED.has(a.wholeAbiAction);
  return ALLOWED.has(a.defaultAction) && a.argDependent.length === 0 && Object.keys(a.exceptions).every((act) => ALLOWED.has(act));
}

/** null when there is no filter to judge (seccomp off or strict: the plain seccomp check covers it). */
export function seccompFacts(s: Snapshot): Known<SeccompFacts> | null {
  if (s.seccompMode !== 2) return null;
  const filters = s.seccompFilterSummary;
  if (isUnknown(filters)) return filters;
  if (filters.length === 0) return unknown("no filter could be read");
  const native = filters[0]!.abis[0]?.abi ?? "?";
  const perAbi = (abi: string) => filters.map((f) => f.abis.find((a) => a.abi === abi));
  const abis = [...new Set(filters.flatMap((f) => f.abis.map((a) => a.abi)))];
  const openAbis = abis.filter((abi) => abi !== native && perAbi(abi).every((a) => a === undefined || abiOpen(a)));
  const nativeAbis = perAbi(native).filter((a): a is Abi => a !== undefined);
  const riskyAllowed: string[] = [];
  const riskyConditional: string[] = [];
  for (const name of RISKY_SYSCALLS) {
    if (!nativeAbis.every((a) => ALLOWED.has(actionOf(a, name)))) continue;
    if (nativeAbis.some((a) => a.argDependent.includes(name))) riskyConditional.push(name);
    else riskyAllowed.push(name);
  }
  return { native, openAbis, riskyAllowed, riskyConditional };
}

/**
 * Whether the filters together are an allow-list on the native ABI (a syscall no rule names is
 * refused), and how many syscalls they let through there. null without a filter to judge.
 */
export function allowListFacts(s: Snapshot): Known<{ allowList: boolean; allowed: number }> | null {
  if (s.seccompMode !== 2) return null;
  const filters = s.seccompFilterSummary;
  if (isUnknown(filters)) return filters;
  if (filters.length === 0) return unknown("no filter could be read");
  const native = filters[0]!.abis[0]?.abi ?? "?";
  const abis = filters.map((f) => f.abis.find((a) => a.abi === native)).filter((a): a is Abi => a !== undefined);
  // Stacked filters: an allow-list if any of them refuses what it does not name.
  const lists = abis.filter((a) => !a.wholeAbiAction && !ALLOWED.has(a.defaultAction));
  if (lists.length === 0) return { allowList: false, allowed: 0 };
  // Allowed by every allow-list filter (the most restrictive result wins).
  const sets = lists.map((a) => new Set(Object.entries(a.exceptions).filter(([act]) => ALLOWED.has(act)).flatMap(([, n]) => n)));
  const allowed = [...sets[0]!].filter((n) => sets.every((set) => set.has(n))).length;
  return { allowList: true, allowed };
}
