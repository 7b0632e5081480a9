// Seccomp for the launcher, kept off the start-up path: the policy module (syscall tables,
// groups) costs ~3 ms to load and the compiler more to run cold, so a default run, and a run
// under a built-in profile (`jailx run -- nginx`), use the plan and filter compiled into the
// binary (seccomp-prebuilt.ts, a Bun macro) and load neither. Any other policy loads them on
// demand (a dynamic import starts no thread in the binary).
import { prebuiltDefaultFilter } from "./seccomp-prebuilt.ts" with { type: "macro" };
import type { SeccompPlan } from "../sys/seccomp/policy.ts";
import type { ParsedOptions } from "./options.ts";
import { POLICY_OPTIONS, policyOptionsKey } from "./seccomp-options.ts";

export type SeccompPlanBuilder = (o: ParsedOptions, keptCaps: readonly string[]) => SeccompPlan | null;

const PREBUILT = prebuiltDefaultFilter();
export function usesDefaultPolicy(o: ParsedOptions): boolean {
  return (o["seccomp"] === undefined || o["seccomp"] === "default") && POLICY_OPTIONS.every((k) => k === "seccomp" || o[k] === undefined);
}

/** The built-in profile's prebuilt filter these options select (its own policy options, no flag changing them), or undefined. */
function prebuiltProfile(o: ParsedOptions) {
  const key = policyOptionsKey(o);
  return PREBUILT.profiles.find((p) => p.options === key);
}

export async function seccompPlanBuilder(o: ParsedOptions): Promise<SeccompPlanBuilder> {
  if (usesDefaultPolicy(o)) return () => JSON.parse(PREBUILT.key) as SeccompPlan;
  // No filter, no policy module (it too ignores the other seccomp flags then).
  if (o["seccomp"] === "none") return () => null;
  // A built-in profile's policy (nginx, …): its options alone decide the kept capabilities too.
  const profile = prebuiltProfile(o);
  if (profile) return () => JSON.parse(profile.key) as SeccompPlan;
  return (await import("../sys/seccomp/policy.ts")).seccompPlanFromOptions;
}

function machine(): "x86_64" | "aarch64" {
  return process.arch === "arm64" ? "aarch64" : "x86_64";
}

/** The sock_filter program for the plan: prebuilt when it is the default plan or a built-in profile's. */
export async function seccompProgram(plan: SeccompPlan): Promise<Buffer> {
  const json = JSON.stringify(plan);
  const program = [PREBUILT, ...PREBUILT.profiles].find((p) => p.key === json)?.programs[machine()];
  if (program) return Buffer.from(program, "base64");
  return (await import("../sys/seccomp/compile.ts")).compileSeccompPlan(plan);
}
