// Walking a cgroup subtree: the jail may create sub-cgroups of its own (it sees its cgroup as /),
// so listing, killing and removal always cover the whole subtree.
import { SysError } from "../errors.ts";
import type { CgroupSystem } from "./system.ts";

const RMDIR_TRIES = 300;

/** `dir` and all its descendant cgroup directories, parents before children. */
export function treeOf(sys: CgroupSystem, dir: string): string[] {
  const out = [dir];
  for (const sub of sys.subdirs(dir)) out.push(...treeOf(sys, `${dir}/${sub}`));
  return out;
}

/** Pids in cgroup.procs of `dir` (and its descendants when `deep`). */
export function listPids(sys: CgroupSystem, dir: string, deep = true): number[] {
  const dirs = deep ? treeOf(sys, dir) : [dir];
  return dirs.flatMap((d) => (sys.read(`${d}/cgroup.procs`) ?? "").split("\n").filter(Boolean).map(Number));
}

/**
 * rmdir `dir` after its descendants. EBUSY while killed processes are still exiting is retried
 * (bounded, about 3 s); ENOENT means someone (a stale cleanup, the guard) already removed it.
 */
export function removeTree(sys: CgroupSystem, dir: string, tries = RMDIR_TRIES): void {
  for (const sub of sys.subdirs(dir)) removeTree(sys, `${dir}/${sub}`, tries);
  for (let i = 0; ; i++) {
    try {
      sys.rmdir(dir);
      return;
    } catch (e) {
      const code = (e as SysError).code;
      if (code === "ENOENT") return;
      if (code !== "EBUSY" || i >= tries) {
        if (code === "EBUSY") throw new SysError("rmdir", "EBUSY", 16, dir, undefined, `processes still in it: ${listPids(sys, dir).join(" ") || "none listed"}`);
        throw e;
      }
      sys.pause(10);
    }
  }
}
