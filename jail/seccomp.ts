// Seccomp for the launcher, kept off the start-up path: the policy module (syscall tables,
// groups) costs ~3 ms to load and the compiler more to run cold, so a default run uses the plan
// and filter compiled into the binary (seccomp-prebuilt.ts, a Bun macro) and loads neither.
// Any other policy loads them on demand (a dynamic import starts no thread in the binary).
import { prebuiltDefaultFilter } from "./seccomp-prebuilt.ts" with { type: "macro" };
import type { SeccompPlan } from "../sys/seccomp/policy.ts";
import type { ParsedOptions } from "./options.ts";

export type SeccompPlanBuilder = (o: ParsedOptions, keptCaps: readonly string[]) => SeccompPlan | null;

const PREBUILT = prebuiltDefaultFilter();
/** Options that change the policy: seccomp's own, the capabilities it adapts to, and its opt-outs. */
const POLICY_OPTIONS = ["seccomp-allow", "seccomp-deny", "seccomp-default-action", "seccomp-log", "cap-add", "cap-drop", "allow-reuseport"];

export function usesDefaultPolicy(o: ParsedOptions): boolean {
  return (o["seccomp"] === undefined || o["seccomp"] === "default") && POLICY_OPTIONS.every((k) => o[k] === undefined);
}

export async function seccompPlanBuilder(o: ParsedOptions): Promise<SeccompPlanBuilder> {
  if (usesDefaultPolicy(o)) return () => JSON.parse(PREBUILT.key) as SeccompPlan;
  // No filter, no policy module (it too ignores the other seccomp flags then).
  if (o["seccomp"] === "none") return () => null;
  return (await import("../sys/seccomp/policy.ts")).seccompPlanFromOptions;
}

function machine(): "x86_64" | "aarch64" {
  return process.arch === "arm64" ? "aarch64" : "x86_64";
}

/** The sock_filter program for the plan: prebuilt when it is the default plan. */
export async function seccompProgram(plan: SeccompPlan): Promise<Buffer> {
  const program = PREBUILT.programs[machine()];
  if (program && JSON.stringify(plan) === PREBUILT.key) return Buffer.from(program, "base64");
  return (await import("../sys/seccomp/compile.ts")).compileSeccompPlan(plan);
}
