// The built-in profiles' prebuilt seccomp filters (jail/seccomp-prebuilt.ts, a Bun macro), in a
// module of their own: jail/seccomp.ts imports it only when a run's policy is not the default's,
// so that a default run does not load them (~200 KB of plans and programs: 1–2 ms of every start).
import { prebuiltProfileFilters } from "./seccomp-prebuilt.ts" with { type: "macro" };

export const PROFILE_FILTERS = prebuiltProfileFilters();
