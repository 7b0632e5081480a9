// A jail's cgroup: one directory per hierarchy, created beneath the caller's cgroup, with the
// plan's limits written in. Used by the supervisor (create, addProcess, oomKilled) and by the
// cleanup guard (killAll, remove) — synchronous fs and sys/ffi.ts only, safe in a forked process.
import * as fs from "node:fs";
import { SysError, UsageError } from "../errors.ts";
import { detectCgroupLayout, parseSelfCgroup, type CgroupHierarchy } from "./layout.ts";
import { limitWrites } from "./limits.ts";
import { checkDelegation, enableV2Controllers, ensureParentDirs, resolveTargets, type CgroupRole } from "./placement.ts";
import { formatBytes, withoutDefaults, type CgroupController, type CgroupPlan } from "./plan.ts";
import { realSystem, type CgroupSystem } from "./system.ts";
import { listPids, removeTree } from "./tree.ts";

export interface JailCgroupDir {
  hierarchy: CgroupHierarchy;
  path: string;
  controllers: CgroupController[];
  roles: CgroupRole[];
}

/** Plain data describing a created jail cgroup, so another process can attach() to it. */
export interface JailCgroupState {
  name: string;
  plan: CgroupPlan;
  dirs: JailCgroupDir[];
}

export interface JailCgroupOptions {
  /** Where the cgroup hierarchies are mounted (default /sys/fs/cgroup). */
  root?: string;
  /** Test seams: contents of /proc/self/cgroup and /proc/self/mountinfo. */
  selfCgroupText?: string;
  mountinfoText?: string;
  /** The uid to check delegation for (default: the process's real uid). */
  uid?: number;
  system?: CgroupSystem;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const KILL_ROUNDS = 300;
const FREEZE_POLLS = 100;

/**
 * After `err` while applying `plan`: the plan without its default limits (null when none are
 * left), with one line to `note` saying the default is not applied. Rethrows `err` when the
 * defaults are not to blame: no defaults, an error that is not about the host, or only defaults
 * and a --cgroup-parent the user gave (`parentGiven`; a parent jailx chose itself, e.g. a
 * systemd delegation, does not count).
 */
export function dropDefaults(plan: CgroupPlan, err: unknown, note: (line: string) => void, parentGiven = plan.parent !== undefined): CgroupPlan | null {
  if (!plan.defaults?.length || !(err instanceof UsageError || err instanceof SysError)) throw err;
  const rest = withoutDefaults(plan);
  if (rest === null && parentGiven) throw err;
  const why = (err.message.split("\n")[0] ?? "").replace(/^--pids: /, "");
  note(`the default --pids ${plan.pidsMax} is not applied (${why}); --pids unlimited removes it`);
  return rest;
}

export class JailCgroup {
  private constructor(
    readonly name: string,
    readonly plan: CgroupPlan,
    private dirs: JailCgroupDir[],
    private readonly sys: CgroupSystem,
    /** where the limits live when not in a jail directory (a systemd scope around it) */
    private readonly limitsDir?: string,
  ) {}

  /** Create the jail cgroup `name` in every hierarchy the plan needs and write its limits. */
  static create(plan: CgroupPlan, name: string, opts: JailCgroupOptions = {}): JailCgroup {
    if (!NAME.test(name)) throw new Error(`cgroup name '${name}': use letters, digits, '.', '_' and '-' only`);
    const sys = opts.system ?? realSystem;
    const layout = detectCgroupLayout(opts.root ?? "/sys/fs/cgroup", opts.mountinfoText, sys);
    const self = parseSelfCgroup(opts.selfCgroupText ?? fs.readFileSync("/proc/self/cgroup", "utf8"));
    const uid = opts.uid ?? process.getuid?.() ?? 0;
    const targets = checkDelegation(plan, resolveTargets(plan, layout, self), uid, sys);
    const jail = new JailCgroup(name, plan, [], sys);
    try {
      for (const t of targets) {
        const path = `${t.parentDir}/${name}`;
        try {
          if (plan.parent !== undefined) ensureParentDirs(t, sys);
          enableV2Controllers(plan, t, sys);
          sys.mkdir(path);
        } catch (e) {
          if (t.required) throw e;
          continue; // a helper hierarchy (kill, freezer, cpuacct) we cannot use: limits are unaffected
        }
        const dir: JailCgroupDir = { hierarchy: t.hierarchy, path, controllers: t.controllers, roles: t.roles };
        jail.dirs.push(dir);
        jail.applyLimits(dir, t.parentDir);
      }
    } catch (e) {
      try {
        jail.remove();
      } catch {
        // the original error matters more; a later run's stale cleanup removes leftovers
      }
      throw e;
    }
    return jail;
  }

  /**
   * create(), except that a *default* limit (plan.defaults) is dropped where it cannot be
   * applied without configuration (rootless without delegation, cgroup v2 with processes in the
   * caller's cgroup, a missing controller) instead of failing the run: `note` gets one line
   * saying so, and the explicit limits are applied alone (null when none are left). A limit the
   * user gave, and --cgroup-parent, still fail as with create().
   */
  static createAllowingDefaults(plan: CgroupPlan, name: string, opts: JailCgroupOptions, note: (line: string) => void, parentGiven = plan.parent !== undefined): JailCgroup | null {
    try {
      return JailCgroup.create(plan, name, opts);
    } catch (err) {
      const rest = dropDefaults(plan, err, note, parentGiven);
      return rest ? JailCgroup.create(rest, name, opts) : null;
    }
  }

  /**
   * A jail inside a delegated systemd scope that carries the limits as unit properties (systemd
   * applies them; each file is checked). The scope's processes — the jail's init and a holder of
   * the supervisor's — move into two leaves, `jail` and `holder`, so the emptied scope may enable
   * the controllers for `jail`, which gets the same limits (what `inspect` and `memory.events`
   * read). The holder keeps systemd from collecting the scope before jailx has read the outcome.
   */
  static inScope(plan: CgroupPlan, name: string, hierarchy: CgroupHierarchy, scopeDir: string, pids: { jail: number; holder: number }, system: CgroupSystem = realSystem): JailCgroup {
    for (const w of limitWrites(plan, 2, plan.controllers)) {
      if (!w.choices.some((c) => system.exists(`${scopeDir}/${c.file}`)))
        throw new UsageError(`${w.flag}: cannot apply the limit: ${w.missing} (systemd made the scope, but it has no ${w.choices.map((c) => c.file).join(" or ")}: ${scopeDir})`);
    }
    const path = `${scopeDir}/jail`;
    for (const [leaf, pid] of [[`${scopeDir}/holder`, pids.holder], [path, pids.jail]] as const) {
      system.mkdir(leaf);
      system.write(`${leaf}/cgroup.procs`, String(pid));
    }
    for (const ctl of plan.controllers) system.write(`${scopeDir}/cgroup.subtree_control`, `+${ctl}`);
    const jail = new JailCgroup(name, plan, [{ hierarchy, path, controllers: [...plan.controllers], roles: ["kill"] }], system, scopeDir);
    jail.applyLimits(jail.dirs[0]!, scopeDir);
    return jail;
  }

  /** Re-open a jail cgroup created by another process (e.g. an exec'd cleanup guard). */
  static attach(state: JailCgroupState, system: CgroupSystem = realSystem): JailCgroup {
    return new JailCgroup(state.name, state.plan, state.dirs.map((d) => ({ ...d })), system);
  }

  state(): JailCgroupState {
    return { name: this.name, plan: this.plan, dirs: this.dirs.map((d) => ({ ...d })) };
  }

  /** The scope around the jail (inScope), whose memory.events counts the jail's OOM kills. */
  get scopeDir(): string | undefined {
    return this.limitsDir;
  }

  private applyLimits(dir: JailCgroupDir, parentDir: string): void {
    for (const w of limitWrites(this.plan, dir.hierarchy.version, dir.controllers)) {
      const choice = w.choices.find((c) => this.sys.exists(`${dir.path}/${c.file}`));
      if (!choice) throw new UsageError(`${w.flag}: cannot apply the limit: ${w.missing} (no ${w.choices.map((c) => c.file).join(" or ")} in ${dir.path})`);
      let value: string;
      if (typeof choice.value === "string") value = choice.value;
      else {
        const found = choice.value.copyParent.map((f) => (this.sys.read(`${parentDir}/${f}`) ?? "").trim()).find(Boolean);
        if (!found) throw new UsageError(`${w.flag}: the parent cgroup ${parentDir} has no ${choice.value.copyParent.join(" or ")} to inherit`);
        value = found;
      }
      try {
        this.sys.write(`${dir.path}/${choice.file}`, value);
      } catch (e) {
        if (!(e instanceof SysError)) throw e;
        const allowed = choice.file === "cpuset.cpus" ? `; CPUs allowed here: ${(this.sys.read(`${parentDir}/cpuset.effective_cpus`) ?? this.sys.read(`${parentDir}/cpuset.cpus`) ?? "?").trim()}` : "";
        throw new UsageError(`${w.flag}: the kernel refused '${value}' for ${dir.path}/${choice.file} (${e.code})${allowed}`);
      }
    }
  }

  /** Move `pid` (a process jailx started: the jail's init) into the jail in every hierarchy. */
  addProcess(pid: number): void {
    for (const d of this.dirs) {
      try {
        this.sys.write(`${d.path}/cgroup.procs`, String(pid));
      } catch (e) {
        if (!(e instanceof SysError)) throw e;
        throw new SysError("write", e.code, e.errno, `${d.path}/cgroup.procs`, `pid ${pid}`, "could not move the jail's init into its cgroup");
      }
    }
  }

  /**
   * The jail's one directory when it lives in a single cgroup v2 directory of its own (not a
   * systemd scope): clone3(CLONE_INTO_CGROUP) can start the jail's init right there, without
   * the migration addProcess() makes (which waits for an RCU grace period).
   */
  v2Dir(): string | null {
    const d = this.dirs[0];
    return this.dirs.length === 1 && d!.hierarchy.version === 2 && this.limitsDir === undefined ? d!.path : null;
  }

  procsFiles(): string[] {
    return this.dirs.map((d) => `${d.path}/cgroup.procs`);
  }

  /**
   * A cgroup.procs file a process of jailx may move itself into for a moment, to start the
   * first migration's grace period early (jail/stage/compile.ts compileWarmup): one in a v1
   * hierarchy with neither cpuset nor memory, whose attach would act on the memory of the
   * mover's address space — jailx's own. Null where there is none.
   */
  warmupProcs(): string | null {
    const d = this.dirs.find((x) => x.hierarchy.version === 1 && !x.hierarchy.controllers.some((c) => c === "cpuset" || c === "memory"));
    return d ? `${d.path}/cgroup.procs` : null;
  }

  paths(): string[] {
    return this.dirs.map((d) => d.path);
  }

  /** The file whose `oom_kill N` line counts the jail's OOM kills (read by the stage's waiter too). */
  oomFile(): string | null {
    if (this.limitsDir !== undefined) return `${this.limitsDir}/memory.events`;
    const d = this.dirs.find((x) => x.controllers.includes("memory"));
    if (!d) return null;
    return `${d.path}/${d.hierarchy.version === 2 ? "memory.events" : "memory.oom_control"}`;
  }

  /** Whether the kernel's OOM killer killed a process in the jail (oom_kill counter > 0). */
  oomKilled(): boolean {
    if (this.limitsDir !== undefined) return /^oom_kill [1-9]/m.test(this.sys.read(`${this.limitsDir}/memory.events`) ?? "");
    const d = this.dirs.find((x) => x.controllers.includes("memory"));
    if (!d) return false;
    // v2: memory.events counts the subtree; v1: the oom_kill field of memory.oom_control (4.13+).
    const text = this.sys.read(`${d.path}/${d.hierarchy.version === 2 ? "memory.events" : "memory.oom_control"}`) ?? "";
    const m = /^oom_kill (\d+)$/m.exec(text);
    return m !== null && Number(m[1]) > 0;
  }

  describeOom(): string {
    const swap = this.plan.memorySwapBytes;
    const limit = this.plan.memoryBytes === undefined ? "" : `, limit ${formatBytes(this.plan.memoryBytes)}`;
    const withSwap = typeof swap === "number" && swap > (this.plan.memoryBytes ?? 0) ? ` (memory+swap ${formatBytes(swap)})` : "";
    return `killed: out of memory${limit}${withSwap}`;
  }

  /** Every pid in the jail's cgroups (all hierarchies, including sub-cgroups the jail made). */
  pids(): number[] {
    const all = new Set<number>();
    for (const d of this.dirs) for (const pid of listPids(this.sys, d.path)) all.add(pid);
    return [...all];
  }

  /** Whether the process that `pid` names now is in this jail (any hierarchy, any depth). */
  private inJail(pid: number): boolean {
    const text = this.sys.cgroupsOf(pid);
    if (text === null) return false;
    return parseSelfCgroup(text).some((e) => e.path.split("/").includes(this.name));
  }

  /**
   * Kill every process in the jail and wait (bounded) until none is left. v2: cgroup.kill
   * (5.14+); otherwise freeze (v2 cgroup.freeze or the v1 freezer), SIGKILL each pid, thaw — so a
   * fork bomb cannot outrun the loop. Pids are signalled through pidfds (no reuse races).
   */
  killAll(): void {
    const killDir = this.dirs.find((d) => d.hierarchy.version === 2 && this.sys.exists(`${d.path}/cgroup.kill`));
    for (let round = 0; round < KILL_ROUNDS; round++) {
      const pids = this.pids();
      if (pids.length === 0) return;
      let killedByKernel = false;
      if (killDir) {
        try {
          this.sys.write(`${killDir.path}/cgroup.kill`, "1");
          killedByKernel = true;
        } catch {
          // fall back to signalling each pid below
        }
      }
      // After cgroup.kill only stragglers outside the v2 directory (none, normally) need signals.
      const inKillDir = killedByKernel ? new Set(listPids(this.sys, killDir!.path)) : new Set<number>();
      const frozen = killedByKernel ? [] : this.freeze();
      for (const pid of pids) if (!inKillDir.has(pid)) this.sys.kill(pid, () => this.inJail(pid));
      this.thaw(frozen);
      // Killed processes leave their cgroup when they finish exiting; give them a moment.
      this.sys.pause(round < 20 ? 1 : 10);
    }
    throw new Error(`cgroup ${this.name}: processes still alive after killAll: ${this.pids().join(" ")}`);
  }

  private freeze(): JailCgroupDir[] {
    const frozen: JailCgroupDir[] = [];
    for (const d of this.dirs) {
      const [file, value] = d.hierarchy.version === 2 ? ["cgroup.freeze", "1"] : d.roles.includes("freezer") ? ["freezer.state", "FROZEN"] : [];
      if (!file || !this.sys.exists(`${d.path}/${file}`)) continue;
      try {
        this.sys.write(`${d.path}/${file}`, value!);
        frozen.push(d);
      } catch {
        continue; // freezing only narrows the race with fork; killing proceeds regardless
      }
      for (let i = 0; i < FREEZE_POLLS && !this.isFrozen(d); i++) this.sys.pause(1);
    }
    return frozen;
  }

  private isFrozen(d: JailCgroupDir): boolean {
    if (d.hierarchy.version === 1) return (this.sys.read(`${d.path}/freezer.state`) ?? "").trim() === "FROZEN";
    return /^frozen 1$/m.test(this.sys.read(`${d.path}/cgroup.events`) ?? "frozen 1");
  }

  private thaw(frozen: JailCgroupDir[]): void {
    for (const d of frozen) {
      try {
        this.sys.write(`${d.path}/${d.hierarchy.version === 2 ? "cgroup.freeze" : "freezer.state"}`, d.hierarchy.version === 2 ? "0" : "THAWED");
      } catch {
        // the cgroup may already be gone
      }
    }
  }

  /** rmdir every directory of the jail (sub-cgroups first), waiting (bounded) for exiting processes. */
  remove(): void {
    const failed: JailCgroupDir[] = [];
    let firstError: unknown;
    for (const d of [...this.dirs].reverse()) {
      try {
        removeTree(this.sys, d.path);
      } catch (e) {
        failed.unshift(d);
        firstError ??= e;
      }
    }
    this.dirs = failed;
    if (firstError) throw firstError;
  }
}
