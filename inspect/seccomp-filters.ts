// Seccomp filter contents for the single-process report. sys/seccomp (issue 3) reads the programs
// with PTRACE_SECCOMP_GET_FILTER (root only) and explains them; inspect never decodes BPF itself,
// it only condenses each explanation to "default action + the syscalls treated differently".
import { unknown, type Known, type Snapshot } from "./snapshot.ts";
import type { FilterSummary } from "../sys/seccomp/index.ts";

export interface FilterDigest {
  /** 0 = the oldest filter (installed first) */
  readonly index: number;
  readonly instructions: number;
  readonly unknownArchAction: string;
  readonly abis: readonly {
    readonly abi: string;
    /** every syscall of this ABI gets this action (e.g. "kill" for a blocked i386 entry) */
    readonly wholeAbiAction?: string;
    readonly defaultAction: string;
    readonly unknownNrAction: string;
    /** action → syscalls that get it instead of the default */
    readonly exceptions: Record<string, string[]>;
    /** syscalls whose action depends on their arguments */
    readonly argDependent: string[];
  }[];
}

export function digest(index: number, s: FilterSummary): FilterDigest {
  return {
    index,
    instructions: s.instructions,
    unknownArchAction: s.unknownArchAction,
    abis: s.abis.map((a) => {
      const exceptions: Record<string, string[]> = {};
      for (const v of a.syscalls) if (v.action !== a.defaultAction) (exceptions[v.action] ??= []).push(v.name);
      return {
        abi: a.abi,
        ...(a.wholeAbiAction ? { wholeAbiAction: a.wholeAbiAction } : {}),
        defaultAction: a.defaultAction,
        unknownNrAction: a.unknownNrAction,
        exceptions,
        argDependent: a.syscalls.filter((v) => v.argDependent).map((v) => v.name),
      };
    }),
  };
}

export async function filterSummary(s: Snapshot): Promise<Known<readonly FilterDigest[]>> {
  if (s.seccompMode !== 2) return [];
  if (s.reader.uid !== 0) return unknown("EPERM: reading filter contents needs root (PTRACE_SECCOMP_GET_FILTER)");
  try {
    // loaded only here: the decoder is large and most reports do not need it
    const { readProcessFilters, explainFilter } = await import("../sys/seccomp/index.ts");
    return readProcessFilters(s.pid).map((prog, i) => digest(i, explainFilter(prog)));
  } catch (e) {
    return unknown(`filter contents: ${(e as Error).message.split("\n")[0]}`);
  }
}
