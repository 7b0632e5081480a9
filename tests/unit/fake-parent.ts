// A strict recording fake of the stage supervisor's parent-side seam (ParentKernel, and the
// JoinKernel of `jailx exec`, jail/stage/parent-kernel.ts, join.ts) and of the cgroup library it
// is given (Prepared.cgroups): every call is recorded with its arguments, an operation the fake
// does not know throws, and so does any once the waiter replaced the process. Used by
// tests/unit/supervise-order.test.ts and join-order.test.ts.
import { expect } from "bun:test";
import { seccompPlanFromOptions } from "../../sys/seccomp/policy.ts";
import { SysError } from "../../sys/errors.ts";
import { REPORT_MAGIC } from "../../sys/stage.ts";
import { parseRunArgs } from "../../jail/options.ts";
import { buildPlan, type Plan } from "../../jail/plan.ts";
import type { JailEvents } from "../../jail/supervisor.ts";
import type { ParentKernel } from "../../jail/stage/parent-kernel.ts";
import type { JoinKernel } from "../../jail/stage/join.ts";
import { JOIN_PID_SLOT, type JailProgram } from "../../jail/stage/compile.ts";
import type { JoinTarget } from "../../jail/join.ts";
import type { CpuSpread } from "../../sys/cpus.ts";
import { fakeHost, type FakeHostSpec } from "./fake-host.ts";

interface Call {
  op: string;
  args: unknown[];
  ret?: unknown;
}

/** Thrown by the fake's successful execWaiter: the process is the waiter now, nothing of it returns. */
export class Replaced extends Error {}

export interface FakeOptions {
  /** cgroup directories of the jail cgroup (none: the plan has no cgroup) */
  cgroupDirs?: string[];
  /** the jail cgroup is on v2 (clone3 CLONE_INTO_CGROUP) */
  v2?: boolean;
  /** the jail cgroup is a systemd scope, made after clone */
  scope?: boolean;
  /** systemd refuses the scope (the default limit is then dropped) */
  scopeFails?: boolean;
  /** clone fails with this errno */
  cloneErrno?: number;
  /** the stage reports a failure: [op index, errno] */
  stageFails?: [number, number];
  /** PATH candidates whose stat failed with this errno (default: every one found) */
  statErrno?: number;
  /** the waiter's execveat fails with this errno */
  execErrno?: number;
  /** compiling the rest throws */
  compileFails?: boolean;
  /** what cpuSpread answers (null: nothing to spread) */
  cpus?: CpuSpread;
  /** the parent's cgroup move throws */
  addFails?: boolean;
  /** the placer's write fails: it exits 125 with [op index, errno] in the report */
  placerFails?: [number, number];
  /** the placer is killed before it reports (exit 128 + 9, no report) */
  placerKilled?: boolean;
  /** milliseconds that pass between the two clock readings */
  elapsed?: number;
  /** exec: the joining process's pid the first child stores (0: it could not fork one) */
  joinedPid?: number;
  /** exec: entering the jail's cgroups throws */
  enterFails?: boolean;
}

export const PID = 4242, HELPER = 3, RESULTS_FD = 7;
export const PLACER = 6000;
/** the child that takes the cgroup migration's grace period early (v1) */
export const WARM = 7000;
/** the child that holds the supervisor's old memory until the program has executed */
export const HOLDER = 8000;
const REGS = { pid: { reg: 10 }, cloneErr: { reg: 11 }, into: { reg: 12 }, failed: { reg: 13 }, placer: { reg: 14 } };
// The program's process starts at op 4; op 5 is its seccomp filter; op 6 stands for exec's setns.
const NOTES = [null, { syscall: "write", path: "/sys/fs/cgroup/pids/jailx-1/cgroup.procs", flags: "the jail's init" }, { syscall: "mount", path: "/proc" }, { syscall: "pivot_root", path: "/tmp" }, { syscall: "prctl" }, { syscall: "seccomp" }, { syscall: "setns", path: "/proc/777/ns/mnt" }];
const SLOTS = ["/usr/bin/true", "/bin/true"].map((path, i) => ({ path, stat: { reg: 20 + i }, exec: { reg: 30 + i } }));

export function fake(o: FakeOptions = {}) {
  const calls: Call[] = [];
  const afterExec: string[] = [];
  let replaced = false;
  let nextFd = 20;
  let clock = 1000;
  let shared: ArrayBuffer | null = null;
  /** every operation goes through here: recorded, and refused once the process was replaced */
  const rec = (op: string, args: unknown[]): Call => {
    if (replaced) {
      afterExec.push(op);
      throw new Replaced(`${op} after the waiter replaced the process`);
    }
    const call = { op, args };
    calls.push(call);
    return call;
  };
  const guard = (args: string[]) => {
    const w = nextFd++;
    return { pid: 5000 + w, w, stop: () => rec("guard.stop", [w, args]) };
  };
  const cgroup = (dirs: string[]) => strict("cgroup", {
    paths: () => dirs,
    v2Dir: () => (o.v2 ? dirs[0]! : null),
    procsFiles: () => dirs.map((d) => `${d}/cgroup.procs`),
    warmupProcs: () => {
      const d = dirs.find((x) => x.includes("/pids/"));
      return o.v2 || !d ? null : `${d}/cgroup.procs`;
    },
    oomFile: () => `${dirs[0]}/memory.events`,
    describeOom: () => "killed: out of memory, limit 64 MiB",
    killAll: () => {},
    remove: () => {},
  }, rec);
  const stageReport = () => {
    const report = new Int32Array(shared!, 0, 4);
    if (o.stageFails) [report[0], report[1], report[2]] = [REPORT_MAGIC, ...o.stageFails];
  };
  const prog: JailProgram = { code: Buffer.alloc(0), ops: [], length: NOTES.length, notes: NOTES, keep: [], programStart: 4, regs: REGS, execSlots: SLOTS };
  let placerFiles: readonly string[] = [];
  // The placer's own ops (op 1 writes cgroup.procs) and failure report.
  const placer = { program: { code: Buffer.alloc(0), ops: [], length: NOTES.length, notes: NOTES, keep: [] }, report: new Int32Array(4) };
  const handlers: { [K in keyof ParentKernel]: (...a: Parameters<ParentKernel[K]>) => ReturnType<ParentKernel[K]> } = {
    openHelper: () => HELPER,
    holdSignals: () => {},
    startGuard: (_helper, args) => guard(args),
    socketPair: () => [nextFd++, nextFd++],
    pipe: () => [nextFd++, nextFd++],
    resultsMemfd: () => ({ fd: RESULTS_FD, buf: (shared = new ArrayBuffer(4096)) }),
    sharedMemory: (n) => Buffer.alloc(n),
    openCgroupDir: () => nextFd++,
    cpuSpread: () => o.cpus ?? null,
    warmMigration: () => WARM,
    holdMemory: () => HOLDER,
    compileJail: (...a) => ({
      prologue: [],
      prologueCode: Buffer.alloc(0),
      regs: REGS,
      ...((placerFiles = a[5]?.placer ?? []), {}),
      spawner: () => ({ code: Buffer.alloc(0), ops: [], length: 0, notes: [], keep: [] }),
      placer: placerFiles.length ? placer : null,
      rest: () => {
        rec("compileRest", []);
        if (o.compileFails) throw new Error("compile: failed");
        return prog;
      },
    }),
    cloneStage: (_code, _n, regs) => {
      if (o.cloneErrno !== undefined) {
        regs[REGS.cloneErr.reg] = BigInt(o.cloneErrno);
        return -1;
      }
      if (o.v2) regs[REGS.into.reg] = 1n;
      regs[REGS.placer.reg] = placerFiles.length ? BigInt(PLACER) : -1n;
      return PID;
    },
    close: () => {},
    openPidfd: () => nextFd++,
    writeIdMaps: () => {},
    sendGo: () => {},
    sendPlaced: () => {},
    addToCgroup: () => {
      if (o.addFails) throw new SysError("write", "EBUSY", 16, "cgroup.procs");
    },
    waitForSetup: () => {
      // What the jail's processes left in the shared memory by the exec pipe's EOF.
      const results = new BigInt64Array(shared!, 16);
      stageReport();
      SLOTS.forEach((_, i) => (results[1 + 2 * i] = BigInt(o.statErrno ?? 0)));
    },
    keepAcrossExec: () => {},
    now: () => (clock += o.elapsed ?? 0),
    execWaiter: () => {
      if (o.execErrno !== undefined) return o.execErrno;
      replaced = true;
      throw new Replaced("execveat");
    },
    kill: () => {},
    reap: () => {},
    reapStatus: () => {
      if (o.placerKilled) return 128 + 9;
      if (!o.placerFails) return 0;
      [placer.report[0], placer.report[1], placer.report[2]] = [REPORT_MAGIC, ...o.placerFails];
      return 125;
    },
    publishOps: () => {},
  };
  const k = strict("", handlers, rec) as unknown as ParentKernel;
  const TARGET: JoinTarget = { name: "web", target: 60, pid: 777, flags: 0x20000000, rootFd: 61, procs: [62] };
  const joinHandlers: { [K in keyof JoinKernel]: (...a: Parameters<JoinKernel[K]>) => ReturnType<JoinKernel[K]> } = {
    ...handlers,
    openTarget: () => TARGET,
    compileJoin: () => prog,
    forkJoiner: () => {
      new BigInt64Array(shared!, 16)[JOIN_PID_SLOT] = BigInt(o.joinedPid ?? PID);
      if (o.joinedPid === 0) stageReport(); // the first child failed before it forked
      return 4000;
    },
    enterCgroups: () => {
      if (o.enterFails) throw new SysError("write", "ENODEV", 19, "cgroup.procs");
    },
  };
  const jk = strict("", joinHandlers, rec) as unknown as JoinKernel;
  const cgroups = o.cgroupDirs === undefined ? null : strict("cgroups", {
    placeJail: (p: unknown) => ({ plan: p, scope: o.scope ? { user: false } : null }),
    withoutDefaults: (p: unknown) => p,
    cleanupStaleJailCgroups: () => {},
    dropDefaults: () => null,
    jailScope: () => {
      if (o.scopeFails) throw new SysError("StartTransientUnit", "EACCES", 13, "jailx-1.scope");
      return cgroup(o.cgroupDirs!);
    },
    JailCgroup: { createAllowingDefaults: (..._a: unknown[]) => (rec("cgroups.create", []), cgroup(o.cgroupDirs!)) },
  }, rec);
  const events: JailEvents = {
    cloned: (pid, dirs) => rec("events.cloned", [pid, dirs]),
    started: (pid) => rec("events.started", [pid]),
  };
  const ops = () => calls.map((c) => c.op);
  const args = (op: string) => calls.find((c) => c.op === op)?.args;
  return { k, jk, calls, ops, args, afterExec, cgroups, events };
}

/**
 * An object whose listed members record their calls (as `prefix.name`) and whose other members
 * throw: the code under test may use nothing the fake does not know.
 */
function strict<T extends object>(prefix: string, members: T, rec: (op: string, args: unknown[]) => Call | void): T {
  return new Proxy(members, {
    get(t, name) {
      if (typeof name !== "string" || !(name in t)) throw new Error(`unexpected operation: ${prefix ? prefix + "." : ""}${String(name)}`);
      const m = (t as Record<string, unknown>)[name];
      if (typeof m !== "function") return m;
      const op = prefix ? `${prefix}.${name}` : name;
      return (...a: unknown[]) => {
        const call = name === "createAllowingDefaults" ? undefined : rec(op, a);
        const ret = (m as (...x: unknown[]) => unknown)(...a);
        if (call) call.ret = ret;
        return ret;
      };
    },
  });
}

export const plan = (args: string[], host: FakeHostSpec = {}): Plan => buildPlan(parseRunArgs(args), fakeHost(host), seccompPlanFromOptions);
export const V1_DIRS = ["/sys/fs/cgroup/memory/jailx-1", "/sys/fs/cgroup/pids/jailx-1"];
export const before = (o: string[], a: string, b: string) => {
  expect(o).toContain(a);
  expect(o).toContain(b);
  expect(o.indexOf(a)).toBeLessThan(o.indexOf(b));
};
export const waiterArgs = (f: ReturnType<typeof fake>) => f.args("execWaiter")![1] as string[];
