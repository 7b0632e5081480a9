// Bun macro, evaluated when the binary is bundled: the default seccomp filter, and the filters of
// the built-in profiles (nginx, redis-server, …), compiled for each machine. Compiling one at
// start-up costs the policy module's load and ~1–5 ms of cold JavaScript on every `jailx run`;
// the bundle carries the results instead. Any other policy is compiled at run time.
import { seccompPlanFromOptions } from "../sys/seccomp/policy.ts";
import { compileSeccompPlan } from "../sys/seccomp/compile.ts";
import type { Machine } from "../sys/seccomp/tables.ts";
import type { ParsedOptions } from "./options.ts";
import { keptCapabilities } from "./plan.ts";
import { policyOptionsKey } from "./seccomp-options.ts";
import { BUILTIN_PROFILES } from "./profiles/index.ts";
import { loadProfile } from "./profile.ts";
import { profileOptions } from "./profile-options.ts";

export interface PrebuiltFilter {
  /** JSON of the SeccompPlan this filter was compiled from */
  key: string;
  /** base64 of the sock_filter array, per machine */
  programs: Partial<Record<Machine, string>>;
}

/** A built-in profile's filter, found by its policy options (policyOptionsKey). */
export interface PrebuiltProfileFilter extends PrebuiltFilter {
  profile: string;
  options: string;
}

const MACHINES: Machine[] = ["x86_64", "aarch64"];

function prebuilt(o: ParsedOptions, keptCaps: readonly string[]): PrebuiltFilter | null {
  const plan = seccompPlanFromOptions(o, keptCaps);
  if (!plan) return null;
  return { key: JSON.stringify(plan), programs: Object.fromEntries(MACHINES.map((m) => [m, compileSeccompPlan(plan, m).toString("base64")])) };
}

export function prebuiltDefaultFilter(): PrebuiltFilter & { profiles: PrebuiltProfileFilter[] } {
  const profiles: PrebuiltProfileFilter[] = [];
  // Only what a profile decides without the host: its seccomp and capability keys (a view path
  // the host lacks changes mounts, never the policy), and no policy file of the host's.
  const noHost = { cwd: "/", stat: () => null, readlink: () => null };
  for (const name of Object.keys(BUILTIN_PROFILES)) {
    const { options } = profileOptions(loadProfile(name, "/"), noHost);
    if (typeof options["seccomp"] === "string" && options["seccomp"] !== "default" && options["seccomp"] !== "none") continue;
    const f = prebuilt(options, keptCapabilities(options));
    if (f) profiles.push({ profile: name, options: policyOptionsKey(options), ...f });
  }
  return { ...prebuilt({}, keptCapabilities({}))!, profiles };
}
