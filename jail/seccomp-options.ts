// Which run options decide the seccomp policy: shared by the prebuilt filters (a build-time
// macro, jail/seccomp-prebuilt.ts) and the run path (jail/seccomp.ts), which must not load the
// macro's module graph (the policy module, the compiler, the profiles).
import type { ParsedOptions } from "./options.ts";

/** Options that change the policy: seccomp's own, the capabilities it adapts to, and its opt-outs. */
export const POLICY_OPTIONS = ["seccomp", "seccomp-allow", "seccomp-deny", "seccomp-default-action", "seccomp-log", "cap-add", "cap-drop", "allow-reuseport"] as const;

/** The policy options of a run as one string: runs with equal strings get equal seccomp plans. */
export function policyOptionsKey(o: ParsedOptions): string {
  return JSON.stringify(POLICY_OPTIONS.map((k) => o[k] ?? null));
}
