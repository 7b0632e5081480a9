// Seccomp filter contents for the single-process report. sys/seccomp (issue 3) reads the programs
// with PTRACE_SECCOMP_GET_FILTER (root only) and explains them; inspect never decodes BPF itself,
// it only condenses each explanation to "default action + the syscalls treated differently".
import { unknown, type FilterDigest, type Known, type Snapshot } from "./snapshot.ts";
import type { FilterSummary } from "../sys/seccomp/index.ts";

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
