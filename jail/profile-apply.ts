// Which profile a run uses, and the run options it yields merged with the flags.
// Loaded only when a profile is in play: a run without one pays for none of this.
import { loadProfile } from "./profile.ts";
import { blameProfile, mergeFlags, profileOptions, type ViewHost } from "./profile-options.ts";
import type { ParsedRun } from "./options.ts";

export interface Applied {
  run: ParsedRun;
  /** turn a plan error about a profile's value into one naming the profile's file and key */
  blame(err: unknown): unknown;
  /** view paths of the profile that the host lacks */
  skipped: string[];
}

export function applyProfile(parsed: ParsedRun, ref: string, host: ViewHost & { cwd: string }): Applied {
  const profile = loadProfile(ref, host.cwd);
  const { options, origin, skipped } = profileOptions(profile, host);
  const merged = mergeFlags(options, parsed.options);
  merged.profile = ref;
  return { run: { ...parsed, options: merged }, blame: (err) => blameProfile(err, origin, parsed.options), skipped };
}
