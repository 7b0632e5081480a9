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

/**
 * The built-in profiles' filters: each distinct one once (profiles may share a policy), and per
 * profile its policy options (policyOptionsKey) with the index of its filter, -1 for the default's.
 */
export interface PrebuiltProfiles {
  filters: PrebuiltFilter[];
  profiles: { profile: string; options: string; filter: number }[];
}

const MACHINES: Machine[] = ["x86_64", "aarch64"];

function prebuilt(o: ParsedOptions, keptCaps: readonly string[]): PrebuiltFilter | null {
  const plan = seccompPlanFromOptions(o, keptCaps);
  if (!plan) return null;
  return { key: JSON.stringify(plan), programs: Object.fromEntries(MACHINES.map((m) => [m, compileSeccompPlan(plan, m).toString("base64")])) };
}

export function prebuiltDefaultFilter(): PrebuiltFilter {
  return prebuilt({}, keptCapabilities({}))!;
}

/**
 * A module of its own (jail/seccomp-profiles.ts) holds these: ~200 KB of plans and programs that a
 * run without a profile must not load (in the default filter's module they cost 1–2 ms of every
 * start, alternating A/B).
 */
export function prebuiltProfileFilters(): PrebuiltProfiles {
  const out: PrebuiltProfiles = { filters: [], profiles: [] };
  const defaultKey = prebuiltDefaultFilter().key;
  // Only what a profile decides without the host: its seccomp and capability keys (a view path
  // the host lacks changes mounts, never the policy), and no policy file of the host's.
  const noHost = { cwd: "/", stat: () => null, readlink: () => null };
  for (const name of Object.keys(BUILTIN_PROFILES)) {
    const { options } = profileOptions(loadProfile(name, "/"), noHost);
    if (typeof options["seccomp"] === "string" && options["seccomp"] !== "default" && options["seccomp"] !== "none") continue;
    const f = prebuilt(options, keptCapabilities(options));
    if (!f) continue;
    let filter = f.key === defaultKey ? -1 : out.filters.findIndex((g) => g.key === f.key);
    if (filter === -1 && f.key !== defaultKey) filter = out.filters.push(f) - 1;
    out.profiles.push({ profile: name, options: policyOptionsKey(options), filter });
  }
  return out;
}
