// Where a jail's cgroup goes on a pure cgroup v2 host run by systemd, where the caller's own
// cgroup is a systemd unit that holds processes (jailx at least), so cgroup v2's
// no-internal-processes rule forbids enabling controllers beneath it. Two ways out, both
// systemd's own rules (docs/CGROUPS.md, "Under systemd"):
// - the caller's unit has Delegate=yes and jailx is alone in its cgroup: follow the delegation
//   protocol — jailx moves itself into a leaf of that subtree and puts the jail in a sibling, so
//   the unit still accounts for the jail;
// - otherwise: ask the (system or user) manager for a transient scope holding only the jail,
//   with the limits as unit properties (as `systemd-run --scope -p MemoryMax=…` would).
import * as fs from "node:fs";
import { UsageError } from "../errors.ts";
import * as sd from "../systemd.ts";
import { getpid } from "../proc.ts";
import { JailCgroup } from "./jail.ts";
import { callerPathIn, detectCgroupLayout, dirOf, parseSelfCgroup, type CgroupLayout, type SelfCgroupEntry } from "./layout.ts";
import { flagFor } from "./limits.ts";
import type { CgroupPlan } from "./plan.ts";
import { realSystem, type CgroupSystem } from "./system.ts";

export type SystemdPlacement =
  /** not a systemd v2 host, or a place the generic code handles (--cgroup-parent, root cgroup) */
  | { kind: "direct" }
  /** jailx moves itself into `leaf` (a child of `parent`); the jail goes into `parent` */
  | { kind: "delegated"; unit: string; parent: string; parentDir: string; leafDir: string }
  /** a transient scope from the system (user=false) or user manager */
  | { kind: "scope"; user: boolean; notice?: string };

interface UnitRef {
  name: string;
  /** the user manager's unit (below user@UID.service), else PID 1's */
  user: boolean;
}

/** The innermost systemd unit (.service or .scope) a cgroup path belongs to. */
export function unitOf(path: string): UnitRef | null {
  const parts = path.split("/").filter(Boolean);
  for (let i = parts.length - 1; i >= 0; i--) {
    if (!/\.(service|scope)$/.test(parts[i]!)) continue;
    return { name: parts[i]!, user: parts.slice(0, i).some((p) => /^user@\d+\.service$/.test(p)) };
  }
  return null;
}

function procsOf(sys: CgroupSystem, dir: string): number[] {
  return (sys.read(`${dir}/cgroup.procs`) ?? "").split("\n").filter(Boolean).map(Number);
}

/** Decide how the jail's cgroup is placed; only reads (and asks systemctl). */
export function chooseSystemdPlacement(
  plan: CgroupPlan, layout: CgroupLayout, self: SelfCgroupEntry[], sys: CgroupSystem, pid: number, uid: number,
): SystemdPlacement {
  if (plan.parent !== undefined || layout.kind !== "v2" || plan.controllers.length === 0 || !sd.systemdRunning()) return { kind: "direct" };
  const v2 = layout.hierarchies[0]!;
  const caller = callerPathIn(v2, self);
  const dir = caller === null ? null : dirOf(v2, caller);
  if (caller === null || dir === null || caller === "/") return { kind: "direct" };
  // Controllers already enabled below us (a prepared cgroup): nothing to work around.
  const enabled = (sys.read(`${dir}/cgroup.subtree_control`) ?? "").split(/\s+/);
  if (plan.controllers.every((c) => enabled.includes(c))) return { kind: "direct" };

  const unit = unitOf(caller);
  let notice: string | undefined;
  if (unit && sd.unitDelegates(unit.name, unit.user)) {
    const others = procsOf(sys, dir).filter((p) => p !== pid);
    if (others.length === 0 && (uid === 0 || sys.writableBy(dir, uid))) {
      return { kind: "delegated", unit: unit.name, parent: caller, parentDir: dir, leafDir: `${dir}/jailx-${pid}-sup` };
    }
    notice = `${unit.name} has Delegate=yes but its cgroup holds ${others.length} other process(es); the jail gets its own transient scope, not counted in ${unit.name} (start jailx as the unit's main process to keep it there)`;
  } else if (unit?.name.endsWith(".service")) {
    notice = `${unit.name} has no Delegate=yes: the jail gets its own transient scope, not counted in ${unit.name} (add Delegate=yes to the unit to keep it there)`;
  }
  const user = uid !== 0;
  if (user && sd.userBusPath(uid) === null) {
    const flag = flagFor(plan, plan.controllers[0]!);
    throw new UsageError(
      `${flag}: rootless limits under systemd need your user manager (user@${uid}.service) over D-Bus, and its bus socket is missing ` +
        `(no ${process.env.XDG_RUNTIME_DIR ?? `/run/user/${uid}`}/bus): install the dbus-user-session package and log in again through a systemd session (pam_systemd), or drop ${flag}`,
    );
  }
  return { kind: "scope", user, ...(notice ? { notice } : {}) };
}

/** The delegation protocol's move: jailx alone into a leaf, so its old cgroup may get controllers. */
export function moveSelfToLeaf(p: SystemdPlacement & { kind: "delegated" }, sys: CgroupSystem, pid: number): void {
  if (!sys.exists(p.leafDir)) sys.mkdir(p.leafDir);
  sys.write(`${p.leafDir}/cgroup.procs`, String(pid));
}

/** "0,2-3" → the little-endian CPU bitmask systemd's AllowedCPUs (ay) takes. */
export function cpuMask(list: string): number[] {
  const bytes: number[] = [];
  for (const part of list.split(",")) {
    const [a, b] = part.split("-").map(Number) as [number, number | undefined];
    for (let cpu = a; cpu <= (b ?? a); cpu++) {
      while (bytes.length <= cpu >> 3) bytes.push(0);
      bytes[cpu >> 3]! |= 1 << (cpu & 7);
    }
  }
  return bytes;
}

const INFINITY = "18446744073709551615";

/** The plan's limits as systemd unit properties, so PID 1 enables the controllers for the scope. */
export function scopeProperties(plan: CgroupPlan, pids: number[], supervisorPid: number): sd.UnitProperty[] {
  const props: sd.UnitProperty[] = [
    ["Description", "s", `jailx jail (supervisor pid ${supervisorPid})`],
    ["PIDs", "au", String(pids.length), ...pids.map(String)],
    // the jail gets a sub-cgroup of its own (killed and removed by jailx), beside the holder
    ["Delegate", "b", "true"],
    ["CollectMode", "s", "inactive-or-failed"],
    // jailx reports an OOM kill itself (memory.events); systemd's default (stop) would kill the
    // whole jail and remove the cgroup before jailx could read why the program died.
    ["OOMPolicy", "s", "continue"],
  ];
  if (plan.memoryBytes !== undefined) props.push(["MemoryMax", "t", String(plan.memoryBytes)]);
  if (plan.memorySwapBytes !== undefined)
    props.push(["MemorySwapMax", "t", plan.memorySwapBytes === "max" ? INFINITY : String(Math.max(0, plan.memorySwapBytes - (plan.memoryBytes ?? 0)))]);
  if (plan.pidsMax !== undefined) props.push(["TasksMax", "t", String(plan.pidsMax)]);
  if (plan.cpuQuotaUs !== undefined) props.push(["CPUQuotaPerSecUSec", "t", String(Math.round((plan.cpuQuotaUs * 1_000_000) / (plan.cpuPeriodUs ?? 100_000)))]);
  if (plan.cpuWeight !== undefined) props.push(["CPUWeight", "t", String(plan.cpuWeight)]);
  if (plan.ioWeight !== undefined) props.push(["IOWeight", "t", String(plan.ioWeight)]);
  if (plan.cpuset !== undefined) {
    const mask = cpuMask(plan.cpuset);
    props.push(["AllowedCPUs", "ay", String(mask.length), ...mask.map(String)]);
  }
  return props;
}

/** The v2 cgroup path of `pid` ("0::/a/b" line of /proc/PID/cgroup), or null when gone. */
export function v2PathOf(pid: number): string | null {
  try {
    const m = /^0::(.*)$/m.exec(fs.readFileSync(`/proc/${pid}/cgroup`, "utf8"));
    return m ? m[1]! : null;
  } catch {
    return null;
  }
}

export interface JailPlacement {
  /** the plan to create the jail cgroup with (delegated: --cgroup-parent set to the unit's cgroup) */
  plan: CgroupPlan;
  /** the jail gets a transient scope after clone (jailScope) instead of a cgroup before it */
  scope: { user: boolean } | null;
  notice?: string;
}

/** Choose, and for the delegation protocol do the one move (jailx itself into a leaf). */
export function placeJail(plan: CgroupPlan, sys: CgroupSystem = realSystem): JailPlacement {
  const layout = detectCgroupLayout("/sys/fs/cgroup", undefined, sys);
  const self = parseSelfCgroup(fs.readFileSync("/proc/self/cgroup", "utf8"));
  const pid = getpid();
  const p = chooseSystemdPlacement(plan, layout, self, sys, pid, process.getuid?.() ?? 0);
  if (p.kind === "direct") return { plan, scope: null };
  if (p.kind === "delegated") {
    moveSelfToLeaf(p, sys, pid);
    return { plan: { ...plan, parent: p.parent }, scope: null };
  }
  return { plan, scope: { user: p.user }, ...(p.notice ? { notice: p.notice } : {}) };
}

const SCOPE_WAIT_POLLS = 500;

/**
 * A transient scope with the limits, holding the jail's init (still waiting for "go") and a
 * holder process of the supervisor's; they then move into the scope's leaves `jail`, `holder`.
 */
export function jailScope(plan: CgroupPlan, user: boolean, jailPid: number, holderPid: number, sys: CgroupSystem = realSystem): JailCgroup {
  const supervisor = getpid();
  const newName = () => `jailx-${supervisor}-${Math.random().toString(36).slice(2, 8)}.scope`;
  let name = newName();
  const flag = flagFor(plan, plan.controllers[0]!);
  const props = scopeProperties(plan, [holderPid, jailPid], supervisor);
  let refused = sd.startTransientScope(name, user, props);
  // Scopes took OOMPolicy= later than the rest: systemd 247 (Debian 11) refuses it ("Cannot set
  // property OOMPolicy, or unknown property"), and there a scope ignores OOM kills, which is what
  // "continue" asks for. Once more without it, under a new name (the refused unit may linger).
  if (refused?.includes("OOMPolicy")) {
    name = newName();
    refused = sd.startTransientScope(name, user, props.filter(([n]) => n !== "OOMPolicy"));
  }
  if (refused !== null)
    throw new UsageError(`${flag}: systemd${user ? " (user manager)" : ""} refused a transient scope for the jail: ${refused}; give --cgroup-parent naming a cgroup without processes, or drop ${flag}`);
  const layout = detectCgroupLayout("/sys/fs/cgroup", undefined, sys);
  const v2 = layout.hierarchies.find((h) => h.version === 2)!;
  for (let i = 0; i < SCOPE_WAIT_POLLS; i++) {
    const path = v2PathOf(jailPid);
    if (path === null) break;
    // Both must be in: a user manager moves them one by one (through PID 1 when it may not
    // itself), and from outside the scope the user could not move the late one into a leaf.
    if (path.endsWith(`/${name}`) && v2PathOf(holderPid) === path) {
      const dir = dirOf(v2, path);
      if (dir === null) break;
      return JailCgroup.inScope(plan, name, v2, dir, { jail: jailPid, holder: holderPid }, sys);
    }
    sys.pause(10);
  }
  throw new UsageError(`${flag}: systemd accepted the scope ${name} but the jail's process did not appear in it within 5 s; check 'systemctl${user ? " --user" : ""} status ${name}'`);
}
