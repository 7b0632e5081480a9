// Stale jail cgroups: a supervisor killed with SIGKILL whose guard also died leaves
// `jailx-<pid>-<random>` directories behind. Each run that creates a cgroup first removes those
// whose supervisor is gone and that hold no process (a live jail is never touched).
import * as fs from "node:fs";
import { posix } from "node:path";
import { callerPathIn, detectCgroupLayout, dirOf, parseSelfCgroup } from "./layout.ts";
import { realSystem, type CgroupSystem } from "./system.ts";
import { listPids, removeTree } from "./tree.ts";

export interface StaleCleanupOptions {
  root?: string;
  selfCgroupText?: string;
  mountinfoText?: string;
  /** Also look beneath this --cgroup-parent (absolute, or relative to the caller's cgroup). */
  parent?: string;
  system?: CgroupSystem;
}

/** The name the launcher gives jail cgroups: jailx-<supervisor pid>-<random>. */
export const JAIL_CGROUP_NAME = /^jailx-(\d+)-[A-Za-z0-9]+$/;

/** Remove stale jail cgroups beneath the caller's cgroup in every hierarchy; returns the removed paths. */
export function cleanupStaleJailCgroups(opts: StaleCleanupOptions = {}): string[] {
  const sys = opts.system ?? realSystem;
  const layout = detectCgroupLayout(opts.root ?? "/sys/fs/cgroup", opts.mountinfoText, sys);
  const self = parseSelfCgroup(opts.selfCgroupText ?? fs.readFileSync("/proc/self/cgroup", "utf8"));
  const removed: string[] = [];
  for (const h of layout.hierarchies) {
    if (h.name) continue; // named hierarchies (name=systemd) never get jail cgroups
    const caller = callerPathIn(h, self);
    if (caller === null) continue;
    const places = [caller];
    if (opts.parent !== undefined) places.push(posix.normalize(opts.parent.startsWith("/") ? opts.parent : posix.join(caller, opts.parent)));
    for (const place of new Set(places)) {
      const dir = dirOf(h, place);
      if (dir === null) continue;
      for (const name of sys.subdirs(dir)) {
        const m = JAIL_CGROUP_NAME.exec(name);
        if (!m || sys.alive(Number(m[1]))) continue;
        const path = `${dir}/${name}`;
        if (listPids(sys, path).length > 0) continue;
        try {
          // Once: a busy one is not stale after all. (From another pid namespace the supervisor
          // looks dead and cgroup.procs hides its processes: a live jail must cost no waiting.)
          removeTree(sys, path, 0);
          removed.push(path);
        } catch {
          // raced with a process joining or another cleanup; the next run tries again
        }
      }
    }
  }
  return removed;
}
