// Bun macro, evaluated when the binary is bundled: the default seccomp filter, compiled for each
// machine. Compiling it at start-up costs ~5 ms of cold JavaScript on every `jailx run`; the
// bundle carries the result instead. Any other policy is compiled at run time.
import { seccompPlanFromOptions } from "../sys/seccomp/policy.ts";
import { compileSeccompPlan } from "../sys/seccomp/compile.ts";
import { DEFAULT_CAPS } from "../sys/caps.ts";
import type { Machine } from "../sys/seccomp/tables.ts";

export interface PrebuiltFilter {
  /** JSON of the SeccompPlan this filter was compiled from */
  key: string;
  /** base64 of the sock_filter array, per machine */
  programs: Partial<Record<Machine, string>>;
}

export function prebuiltDefaultFilter(): PrebuiltFilter {
  const plan = seccompPlanFromOptions({}, [...DEFAULT_CAPS].sort())!;
  const machines: Machine[] = ["x86_64", "aarch64"];
  return {
    key: JSON.stringify(plan),
    programs: Object.fromEntries(machines.map((m) => [m, compileSeccompPlan(plan, m).toString("base64")])),
  };
}
