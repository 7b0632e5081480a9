// Where a jail's cgroup goes: one directory per hierarchy that serves a requested controller,
// beneath the caller's own cgroup (or --cgroup-parent), plus helper hierarchies that make
// cleanup reliable (v2 cgroup.kill, the v1 freezer) and CPU accounting (v1 cpuacct).
// Decisions (see docs/CGROUPS.md): no process that jailx did not start is ever moved, so on v2 a
// parent that holds processes cannot get controllers enabled; that is an error, not a fallback.
import { posix } from "node:path";
import { UsageError } from "../errors.ts";
import { callerPathIn, dirOf, type CgroupHierarchy, type CgroupLayout, type SelfCgroupEntry } from "./layout.ts";
import { flagFor, V1_NAME } from "./limits.ts";
import type { CgroupController, CgroupPlan } from "./plan.ts";
import type { CgroupSystem } from "./system.ts";
import { systemdRunning, systemdVersion } from "../systemd.ts";

/** What a jail directory is for besides limits. */
export type CgroupRole = "kill" | "freezer" | "cpuacct";

export interface CgroupTarget {
  hierarchy: CgroupHierarchy;
  /** The cgroup path (as in /proc/self/cgroup) and directory the jail is created in. */
  parentPath: string;
  parentDir: string;
  /** The caller's own cgroup in this hierarchy. */
  callerPath: string;
  controllers: CgroupController[];
  roles: CgroupRole[];
  /** Limits live here: failure is an error. Helper hierarchies are skipped when unusable. */
  required: boolean;
}

// The fixes, in a few words (the refusal is one line plus a hint); docs/CGROUPS.md has the
// full recipes. They name only what this host's systemd has: DelegateSubgroup= exists from
// systemd 254 on; before that jailx does the same move itself in a Delegate=yes unit.
const PARENT_V2 = "give --cgroup-parent a writable cgroup without processes";
function delegateV2(): string {
  const version = systemdRunning() ? systemdVersion() : null;
  if (version === null) return `${PARENT_V2} (made by root below /sys/fs/cgroup, chowned to you), or run jailx in a delegated cgroup (systemd-run -p Delegate=yes …); see docs/CGROUPS.md`;
  if (version >= 254) return `run jailx in a delegated cgroup (systemd-run -p Delegate=yes -p DelegateSubgroup=supervisor …) or ${PARENT_V2}; see docs/CGROUPS.md`;
  return `run jailx as the main process of a unit with Delegate=yes (systemd-run -p Delegate=yes …; systemd ${version} has no DelegateSubgroup=) or ${PARENT_V2}; see docs/CGROUPS.md`;
}
function delegateV2Recipe(): string {
  const other = "or pass --cgroup-parent naming an existing cgroup without processes that you may write";
  const version = systemdRunning() ? systemdVersion() : null;
  if (version === null) return `pass --cgroup-parent naming an existing cgroup without processes that you may write (e.g. made by root with mkdir below /sys/fs/cgroup, controllers enabled above it, chowned to you)`;
  if (version >= 254)
    return `start jailx where it has a delegated cgroup with an empty parent, e.g. 'systemd-run [--user] -p Delegate=yes -p DelegateSubgroup=supervisor --pty --wait jailx run --cgroup-parent .. …', ${other}`;
  return `run jailx as the main process of a unit with Delegate=yes (e.g. 'systemd-run [--user] -p Delegate=yes --pty --wait jailx run …'; systemd ${version} has no DelegateSubgroup=), ${other}`;
}
const DELEGATE_V1 = "ask root for a cgroup in each hierarchy, owned by you, and pass it with --cgroup-parent (v1 has no safe delegation)";

function hierarchyFor(layout: CgroupLayout, ctl: CgroupController): CgroupHierarchy | undefined {
  return (
    layout.hierarchies.find((h) => h.version === 1 && h.controllers.includes(V1_NAME[ctl])) ??
    layout.hierarchies.find((h) => h.version === 2 && h.controllers.includes(ctl))
  );
}

function describeHierarchy(h: CgroupHierarchy): string {
  return h.version === 2 ? `cgroup v2 at ${h.mountPoint}` : `cgroup v1 ${h.name ? `name=${h.name}` : h.controllers.join(",")} at ${h.mountPoint}`;
}

/** --cgroup-parent: absolute = from the hierarchy's root; relative (may use ..) = from the caller's cgroup. */
function parentPathFor(plan: CgroupPlan, callerPath: string): string {
  if (plan.parent === undefined) return callerPath;
  const joined = plan.parent.startsWith("/") ? plan.parent : posix.join(callerPath, plan.parent);
  // posix.join/normalize clamp ".." at "/"; reject a request that tried to climb past the root.
  const depth = plan.parent.startsWith("/") ? 0 : callerPath.split("/").filter(Boolean).length;
  const ups = plan.parent.split("/").filter((p) => p === "..").length;
  if (!plan.parent.startsWith("/") && ups > depth) throw new UsageError(`--cgroup-parent '${plan.parent}': it climbs above the cgroup root; give a path inside the hierarchy`);
  return posix.normalize(joined).replace(/\/+$/, "") || "/";
}

/** Choose the hierarchies and parent directories for a plan. Throws on a missing controller. */
export function resolveTargets(plan: CgroupPlan, layout: CgroupLayout, self: SelfCgroupEntry[]): CgroupTarget[] {
  const targets: CgroupTarget[] = [];
  const targetOf = (h: CgroupHierarchy, required: boolean): CgroupTarget | null => {
    const existing = targets.find((t) => t.hierarchy === h);
    if (existing) return existing;
    const callerPath = callerPathIn(h, self);
    const what = describeHierarchy(h);
    if (callerPath === null) {
      if (!required) return null;
      throw new UsageError(`${what}: /proc/self/cgroup has no line for it, so jailx cannot tell where to place the jail; check the cgroup mounts`);
    }
    const parentPath = parentPathFor(plan, callerPath);
    const parentDir = dirOf(h, parentPath);
    if (parentDir === null) {
      if (!required) return null;
      throw new UsageError(`cgroup ${parentPath} is not visible under the ${what} mount (it shows ${h.mountRoot}); mount the hierarchy's root or use --cgroup-parent`);
    }
    const t: CgroupTarget = { hierarchy: h, parentPath, parentDir, callerPath, controllers: [], roles: [], required };
    targets.push(t);
    return t;
  };

  for (const ctl of plan.controllers) {
    const h = hierarchyFor(layout, ctl);
    if (!h) {
      const mounted = layout.hierarchies.map(describeHierarchy).join("; ") || "none";
      throw new UsageError(`${flagFor(plan, ctl)}: the ${ctl} controller is not available on this system (mounted: ${mounted}); enable it in the kernel or drop ${flagFor(plan, ctl)}`);
    }
    const t = targetOf(h, true)!;
    t.required = true;
    t.controllers.push(ctl);
  }
  // Helpers: a v2 tree (cgroup.kill, cgroup.events) even without controllers — on hybrid systems it
  // is the reliable way to kill everything; the v1 freezer; cpuacct for CPU usage next to --cpus.
  // Not for a cgroup that holds only the default pids limit: the jail's pid namespace already
  // ends every process with its init, and each hierarchy costs the jail's start a migration,
  // which waits for an RCU grace period (1–10 ms measured here on cgroup v1).
  if (plan.controllers.every((c) => plan.defaults?.includes(c as "pids"))) return targets;
  const v2 = layout.hierarchies.find((h) => h.version === 2);
  if (v2) targetOf(v2, false)?.roles.push("kill");
  if (layout.kind !== "v2") {
    const freezer = layout.hierarchies.find((h) => h.version === 1 && h.controllers.includes("freezer"));
    if (freezer) targetOf(freezer, false)?.roles.push("freezer");
    const acct = layout.hierarchies.find((h) => h.version === 1 && h.controllers.includes("cpuacct"));
    if (acct && plan.controllers.includes("cpu")) targetOf(acct, false)?.roles.push("cpuacct");
  }
  return targets;
}

/**
 * Rootless: the parent (and its cgroup.procs, through which the jail's init is moved) must be
 * writable by `uid`. Required targets fail with how to get delegation; helpers are dropped.
 */
export function checkDelegation(plan: CgroupPlan, targets: CgroupTarget[], uid: number, sys: CgroupSystem): CgroupTarget[] {
  if (uid === 0) return targets;
  return targets.filter((t) => {
    // A --cgroup-parent that does not exist yet will be created: its nearest existing ancestor counts.
    let dir = t.parentDir;
    while (!sys.exists(dir) && dir !== t.hierarchy.mountPoint && dir !== "/") dir = posix.dirname(dir);
    const files = [dir, `${dir}/cgroup.procs`];
    if (t.hierarchy.version === 2 && t.controllers.length > 0) files.push(`${dir}/cgroup.subtree_control`);
    const ok = files.every((f) => sys.writableBy(f, uid));
    if (ok || !t.required) return ok;
    const flag = flagFor(plan, t.controllers[0]!);
    throw new UsageError(
      `${flag}: cgroup ${t.parentPath} (${t.hierarchy.version === 2 ? "v2" : `v1 ${t.hierarchy.name ? `name=${t.hierarchy.name}` : t.hierarchy.controllers.join(",")}`}) is not delegated to uid ${uid} (not writable)`,
      t.hierarchy.version === 2 ? delegateV2() : DELEGATE_V1,
    );
  });
}

function controllersIn(sys: CgroupSystem, file: string): string[] {
  return (sys.read(file) ?? "").split(/\s+/).filter(Boolean);
}

function processCount(sys: CgroupSystem, dir: string): number {
  return (sys.read(`${dir}/cgroup.procs`) ?? "").split("\n").filter(Boolean).length;
}

/**
 * Create a missing --cgroup-parent (and its ancestors). They stay after the run, like a systemd
 * slice: other jails may share them. v1 cpuset directories start empty and are filled from above.
 */
export function ensureParentDirs(t: CgroupTarget, sys: CgroupSystem): void {
  const missing: string[] = [];
  for (let d = t.parentDir; !sys.exists(d); d = posix.dirname(d)) {
    if (d === t.hierarchy.mountPoint || d === "/") break;
    missing.unshift(d);
  }
  for (const d of missing) {
    sys.mkdir(d);
    if (t.hierarchy.version === 1 && t.hierarchy.controllers.includes("cpuset")) {
      for (const f of ["cpuset.cpus", "cpuset.mems"]) sys.write(`${d}/${f}`, (sys.read(`${posix.dirname(d)}/${f}`) ?? "").trim());
    }
  }
}

/**
 * v2: enable exactly the needed controllers in cgroup.subtree_control along the way to the jail.
 * Default placement touches only the caller's cgroup; an explicit --cgroup-parent also enables
 * them in its ancestors (the user named that subtree). Never moves a process to make room.
 */
export function enableV2Controllers(plan: CgroupPlan, t: CgroupTarget, sys: CgroupSystem): void {
  if (t.hierarchy.version !== 2 || t.controllers.length === 0) return;
  const chain: string[] = [t.parentDir];
  if (plan.parent !== undefined) {
    for (let d = t.parentDir; d !== t.hierarchy.mountPoint && d !== "/"; ) {
      d = posix.dirname(d);
      chain.unshift(d);
    }
  }
  const isRoot = (dir: string) => dir === t.hierarchy.mountPoint && t.hierarchy.mountRoot === "/";
  for (const dir of chain) {
    const enabled = controllersIn(sys, `${dir}/cgroup.subtree_control`);
    for (const ctl of t.controllers) {
      if (enabled.includes(ctl)) continue;
      const flag = flagFor(plan, ctl);
      if (!controllersIn(sys, `${dir}/cgroup.controllers`).includes(ctl)) {
        throw new UsageError(
          `${flag}: the ${ctl} controller is not available in cgroup ${dir} (its parent does not delegate it: not in cgroup.controllers); ` +
            `enable it above (systemd: Delegate=yes, or Delegate=${ctl}, on the unit above) or drop ${flag}`,
        );
      }
      const procs = isRoot(dir) ? 0 : processCount(sys, dir);
      if (procs > 0) throw noInternalProcesses(flag, ctl, dir, procs);
      try {
        sys.write(`${dir}/cgroup.subtree_control`, `+${ctl}`);
      } catch (e) {
        if ((e as { code?: string }).code === "EBUSY") throw noInternalProcesses(flag, ctl, dir, processCount(sys, dir));
        throw e;
      }
    }
  }
}

function noInternalProcesses(flag: string, ctl: string, dir: string, procs: number): UsageError {
  return new UsageError(
    `${flag}: cannot enable the ${ctl} controller below cgroup ${dir}: it holds ${procs || "some"} process(es) (jailx itself among them when it is jailx's own cgroup), ` +
      `and cgroup v2 allows controllers only below cgroups without processes; jailx never moves a process out of the cgroup it started in. Fix: ${delegateV2Recipe()}`,
  );
}
