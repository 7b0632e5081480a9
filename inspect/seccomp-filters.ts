// Seccomp filter contents for the single-process report: sys/seccomp (issue 3) reads the programs
// with PTRACE_SECCOMP_GET_FILTER (root only) and explains them; inspect never decodes BPF itself.
// Until sys/seccomp/index.ts exists, the contents are reported as unavailable.
import { existsSync } from "node:fs";
import { unknown, type Known, type Snapshot } from "./snapshot.ts";

interface SeccompApi {
  readProcessFilters(pid: number): Buffer[];
  explainFilter(prog: Buffer): unknown;
}

// A computed specifier, so that this module builds before sys/seccomp/index.ts exists.
// TODO(lead): once it exists, replace with a literal `import("../sys/seccomp/index.ts")` so that
// `bun build --compile` bundles it.
const INDEX = new URL("../sys/seccomp/index.ts", import.meta.url);

export async function filterSummary(s: Snapshot): Promise<Known<readonly unknown[]>> {
  if (s.seccompMode !== 2) return [];
  if (s.reader.uid !== 0) return unknown("EPERM: reading filter contents needs root (PTRACE_SECCOMP_GET_FILTER)");
  if (INDEX.protocol !== "file:" || !existsSync(INDEX)) return unknown("filter contents: unavailable (sys/seccomp decoder not built in)");
  try {
    const api = (await import(INDEX.href)) as SeccompApi;
    if (typeof api.readProcessFilters !== "function" || typeof api.explainFilter !== "function")
      return unknown("filter contents: unavailable (sys/seccomp has no readProcessFilters/explainFilter)");
    return api.readProcessFilters(s.pid).map((prog, i) => ({ index: i, summary: api.explainFilter(prog) }));
  } catch (e) {
    return unknown(`filter contents: ${(e as Error).message.split("\n")[0]}`);
  }
}
