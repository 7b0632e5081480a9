// The cgroup library's public face; the launcher (jail/) imports from here.
export { detectCgroupLayout, type CgroupHierarchy, type CgroupLayout } from "./layout.ts";
export { dropDefaults, JailCgroup, type JailCgroupDir, type JailCgroupOptions, type JailCgroupState } from "./jail.ts";
export { cleanupStaleJailCgroups, JAIL_CGROUP_NAME, type StaleCleanupOptions } from "./stale.ts";
export { cgroupPlanFromOptions, formatBytes, parseSize, withoutDefaults, type CgroupController, type CgroupPlan } from "./plan.ts";
export { realSystem, type CgroupSystem } from "./system.ts";
export { jailScope, placeJail, type JailPlacement } from "./systemd.ts";
