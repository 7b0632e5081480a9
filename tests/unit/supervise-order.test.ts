// The order of the stage supervisor's parent-side steps (jail/stage/supervise.ts) and its failure
// handling, checked against a strict recording fake of the parent seam (jail/stage/parent-kernel.ts)
// and of the cgroup library. Each assertion is an ordering constraint documented in supervise.ts.
// The real calls are covered by tests/run/stage.test.ts, handover.test.ts and helper.test.ts.
import { describe, expect, test } from "bun:test";
import { seccompPlanFromOptions } from "../../sys/seccomp/policy.ts";
import { SysError } from "../../sys/errors.ts";
import { REPORT_MAGIC } from "../../sys/stage.ts";
import { parseRunArgs } from "../../jail/options.ts";
import { buildPlan, type Plan } from "../../jail/plan.ts";
import type { JailEvents, Outcome, Prepared } from "../../jail/supervisor.ts";
import { superviseStaged } from "../../jail/stage/supervise.ts";
import type { ParentKernel } from "../../jail/stage/parent-kernel.ts";
import { joinJailStaged, type JoinKernel } from "../../jail/stage/join.ts";
import { JOIN_PID_SLOT, type JailProgram } from "../../jail/stage/compile.ts";
import type { JoinTarget } from "../../jail/join.ts";
import type { Judged } from "../../jail/state.ts";
import { fakeHost, type FakeHostSpec } from "./fake-host.ts";

interface Call {
  op: string;
  args: unknown[];
}

/** Thrown by the fake's successful execWaiter: the process is the waiter now, nothing of it returns. */
class Replaced extends Error {}

interface FakeOptions {
  /** cgroup directories of the jail cgroup (none: the plan has no cgroup) */
  cgroupDirs?: string[];
  /** the jail cgroup is on v2 (clone3 CLONE_INTO_CGROUP) */
  v2?: boolean;
  /** the jail cgroup is a systemd scope, made after clone */
  scope?: boolean;
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
  /** the parent's cgroup move throws */
  addFails?: boolean;
  /** milliseconds that pass between the two clock readings */
  elapsed?: number;
  /** exec: the joining process's pid the first child stores (0: it could not fork one) */
  joinedPid?: number;
  /** exec: entering the jail's cgroups throws */
  enterFails?: boolean;
}

const PID = 4242, HELPER = 3, RESULTS_FD = 7;
const REGS = { pid: { reg: 10 }, cloneErr: { reg: 11 }, into: { reg: 12 }, failed: { reg: 13 } };
// The program's process starts at op 4; op 5 is its seccomp filter; op 6 stands for exec's setns.
const NOTES = [null, { syscall: "clone" }, { syscall: "mount", path: "/proc" }, { syscall: "pivot_root", path: "/tmp" }, { syscall: "prctl" }, { syscall: "seccomp" }, { syscall: "setns", path: "/proc/777/ns/mnt" }];
const SLOTS = ["/usr/bin/true", "/bin/true"].map((path, i) => ({ path, stat: { reg: 20 + i }, exec: { reg: 30 + i } }));

function fake(o: FakeOptions = {}) {
  const calls: Call[] = [];
  const afterExec: string[] = [];
  let replaced = false;
  let nextFd = 20;
  let clock = 1000;
  let shared: ArrayBuffer | null = null;
  /** every operation goes through here: recorded, and refused once the process was replaced */
  const rec = (op: string, args: unknown[]) => {
    if (replaced) {
      afterExec.push(op);
      throw new Replaced(`${op} after the waiter replaced the process`);
    }
    calls.push({ op, args });
  };
  const guard = (args: string[]) => {
    const w = nextFd++;
    return { pid: 5000 + w, w, stop: () => rec("guard.stop", [w, args]) };
  };
  const cgroup = (dirs: string[]) => strict("cgroup", {
    paths: () => dirs,
    v2Dir: () => (o.v2 ? dirs[0]! : null),
    procsFiles: () => dirs.map((d) => `${d}/cgroup.procs`),
    oomFile: () => `${dirs[0]}/memory.events`,
    describeOom: () => "killed: out of memory, limit 64 MiB",
    killAll: () => {},
    remove: () => {},
  }, rec);
  const stageReport = () => {
    const report = new Int32Array(shared!, 0, 4);
    if (o.stageFails) [report[0], report[1], report[2]] = [REPORT_MAGIC, ...o.stageFails];
  };
  const prog: JailProgram = { ops: [], notes: NOTES, keep: [], programStart: 4, regs: REGS, execSlots: SLOTS };
  const handlers: { [K in keyof ParentKernel]: (...a: Parameters<ParentKernel[K]>) => ReturnType<ParentKernel[K]> } = {
    openHelper: () => HELPER,
    holdSignals: () => {},
    startGuard: (_helper, args) => guard(args),
    socketPair: () => [nextFd++, nextFd++],
    pipe: () => [nextFd++, nextFd++],
    resultsMemfd: () => ({ fd: RESULTS_FD, buf: (shared = new ArrayBuffer(4096)) }),
    sharedMemory: (n) => Buffer.alloc(n),
    openCgroupDir: () => nextFd++,
    compileJail: () => ({
      prologue: [],
      regs: REGS,
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
    jailScope: () => cgroup(o.cgroupDirs!),
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
function strict<T extends object>(prefix: string, members: T, rec: (op: string, args: unknown[]) => void): T {
  return new Proxy(members, {
    get(t, name) {
      if (typeof name !== "string" || !(name in t)) throw new Error(`unexpected operation: ${prefix ? prefix + "." : ""}${String(name)}`);
      const m = (t as Record<string, unknown>)[name];
      if (typeof m !== "function") return m;
      const op = prefix ? `${prefix}.${name}` : name;
      return (...a: unknown[]) => {
        if (name !== "createAllowingDefaults") rec(op, a);
        return (m as (...x: unknown[]) => unknown)(...a);
      };
    },
  });
}

const plan = (args: string[], host: FakeHostSpec = {}): Plan => buildPlan(parseRunArgs(args), fakeHost(host), seccompPlanFromOptions);
const V1_DIRS = ["/sys/fs/cgroup/memory/jailx-1", "/sys/fs/cgroup/pids/jailx-1"];

/** Runs the supervisor to its end: the waiter (Replaced), an outcome, or a thrown error. */
function supervise(p: Plan, f: ReturnType<typeof fake>, extra: Partial<Prepared> = {}): Outcome | Replaced | Error {
  const prepared: Prepared = { seccomp: null, cgroups: f.cgroups as Prepared["cgroups"], ...extra };
  try {
    return superviseStaged(p, prepared, () => {}, f.k);
  } catch (err) {
    return err as Error;
  }
}
const before = (o: string[], a: string, b: string) => {
  expect(o).toContain(a);
  expect(o).toContain(b);
  expect(o.indexOf(a)).toBeLessThan(o.indexOf(b));
};
const waiterArgs = (f: ReturnType<typeof fake>) => f.args("execWaiter")![1] as string[];

describe("the stage supervisor's parent side", () => {
  test("the jail cgroup is created and its cleanup guard started before the clone; the clone before the rest is compiled", () => {
    const f = fake({ cgroupDirs: V1_DIRS });
    expect(supervise(plan(["--", "true"]), f)).toBeInstanceOf(Replaced);
    const o = f.ops();
    before(o, "cgroups.create", "startGuard");
    before(o, "startGuard", "cloneStage");
    expect(f.args("startGuard")).toEqual([HELPER, [...V1_DIRS.map((d) => `kill=${d}`), ...[...V1_DIRS].reverse().map((d) => `rmdir=${d}`)], []]);
    before(o, "compileJail", "cloneStage");
    before(o, "cloneStage", "compileRest");
    before(o, "compileRest", "sendGo");
  });

  test("a rootless jail: id maps written before 'go', the parent's cgroup move between 'go' and 'placed'", () => {
    const f = fake({ cgroupDirs: V1_DIRS });
    expect(supervise(plan(["--memory", "64M", "--", "true"], { uid: 1000, gid: 1000 }), f)).toBeInstanceOf(Replaced);
    const o = f.ops();
    before(o, "cloneStage", "writeIdMaps");
    before(o, "writeIdMaps", "sendGo");
    before(o, "sendGo", "addToCgroup");
    before(o, "addToCgroup", "sendPlaced");
    expect(f.args("addToCgroup")![1]).toBe(PID);
    expect(f.args("writeIdMaps")![1]).toBe(PID);
    // a rootless init cannot write to the cgroup: it does not place itself
    expect((f.args("compileJail")![5] as { selfPlace: string[] }).selfPlace).toEqual([]);
  });

  test("a root jail on cgroup v1 places itself (the procs files are compiled in); the parent neither moves it nor writes maps", () => {
    const f = fake({ cgroupDirs: V1_DIRS });
    expect(supervise(plan(["--", "true"]), f)).toBeInstanceOf(Replaced);
    expect((f.args("compileJail")![5] as { selfPlace: string[] }).selfPlace).toEqual(V1_DIRS.map((d) => `${d}/cgroup.procs`));
    expect(f.ops()).not.toContain("addToCgroup");
    expect(f.ops()).not.toContain("writeIdMaps");
    before(f.ops(), "sendGo", "sendPlaced");
  });

  test("cgroup v2: the directory is opened before the clone and handed to it (clone3 places the init); no move afterwards", () => {
    const f = fake({ cgroupDirs: ["/sys/fs/cgroup/jailx-1"], v2: true });
    expect(supervise(plan(["--memory", "64M", "--", "true"], { uid: 1000, gid: 1000 }), f)).toBeInstanceOf(Replaced);
    before(f.ops(), "openCgroupDir", "compileJail");
    const fds = f.args("compileJail")![2] as { cgroupFd: number };
    expect(fds.cgroupFd).toBeGreaterThanOrEqual(0);
    expect(f.ops()).not.toContain("addToCgroup");
    // the jail's ends, the cgroup directory among them, are closed once the child has them
    const closed = f.calls.filter((c, i) => c.op === "close" && i > f.ops().indexOf("cloneStage")).map((c) => c.args[0]);
    expect(closed).toContain(fds.cgroupFd);
  });

  test("a systemd scope is made around the waiting init after 'go', with its holder and cleanup guard, before 'placed'", () => {
    const f = fake({ cgroupDirs: ["/sys/fs/cgroup/system.slice/jailx-1.scope"], scope: true });
    expect(supervise(plan(["--", "true"]), f)).toBeInstanceOf(Replaced);
    const o = f.ops();
    expect(o).not.toContain("cgroups.create");
    const guards = f.calls.filter((c) => c.op === "startGuard");
    expect(guards.map((g) => g.args[1])).toEqual([[], ["kill=/sys/fs/cgroup/system.slice/jailx-1.scope", "rmdir=/sys/fs/cgroup/system.slice/jailx-1.scope"]]);
    before(o, "sendGo", "cgroups.jailScope");
    before(o, "cgroups.jailScope", "sendPlaced");
    expect(o.indexOf("startGuard")).toBeGreaterThan(o.indexOf("sendGo"));
    expect(o.lastIndexOf("startGuard")).toBeLessThan(o.indexOf("sendPlaced"));
    // both guards' pipes go to the waiter: the holder keeps the scope until it has read the OOM counter
    expect(waiterArgs(f).filter((a) => a.startsWith("guard="))).toHaveLength(2);
  });

  test("a named jail: 'cloned' after the cgroup move and before 'placed' (with the cgroup), 'started' before the waiter, whose extra arguments it takes", () => {
    const f = fake({ cgroupDirs: V1_DIRS });
    const out = supervise(plan(["--memory", "64M", "--", "true"], { uid: 1000, gid: 1000 }), f, { events: f.events, waiter: () => ({ args: ["unlink=/run/jailx/x"], keep: [99] }) });
    expect(out).toBeInstanceOf(Replaced);
    const o = f.ops();
    before(o, "addToCgroup", "events.cloned");
    before(o, "events.cloned", "sendPlaced");
    expect(f.args("events.cloned")).toEqual([PID, V1_DIRS]);
    before(o, "waitForSetup", "events.started");
    before(o, "events.started", "execWaiter");
    expect(waiterArgs(f).at(-1)).toBe("unlink=/run/jailx/x");
    expect(f.calls.filter((c) => c.op === "keepAcrossExec").map((c) => c.args[0])).toContain(99);
  });

  test("the waiter is executed last, told the pid, the gate, the time left, the cgroup (kill= then rmdir= reversed), every guard and the socket", () => {
    const f = fake({ cgroupDirs: V1_DIRS, elapsed: 300 });
    expect(supervise(plan(["--timeout", "5", "--memory", "64M", "--", "true"]), f)).toBeInstanceOf(Replaced);
    const o = f.ops();
    expect(o.at(-1)).toBe("execWaiter");
    // nothing after it but the cleanup of a `finally` unwinding the fake's exception (execveat does not return)
    expect(f.afterExec).toEqual(["cgroup.killAll"]);
    const [helper, a] = f.args("execWaiter") as [number, string[]];
    expect(helper).toBe(HELPER);
    expect(a.slice(0, 3)).toEqual(["jailx-wait", "wait", `pid=${PID}`]);
    expect(a).toContain("timeout=4700");
    expect(a).toContain("timeoutmsg=killed: timeout after 5s");
    expect(a).toContain(`results=${RESULTS_FD}`);
    expect(a.filter((x) => x.startsWith("gate="))).toHaveLength(1);
    expect(a.filter((x) => /^(kill|rmdir)=/.test(x))).toEqual([...V1_DIRS.map((d) => `kill=${d}`), ...[...V1_DIRS].reverse().map((d) => `rmdir=${d}`)]);
    expect(a).toContain(`oomfile=${V1_DIRS[0]}/memory.events`);
    expect(a).toContain("oommsg=killed: out of memory, limit 64 MiB");
    const guardW = f.calls.filter((c) => c.op === "startGuard").length;
    expect(guardW).toBe(1);
    expect(a.filter((x) => x.startsWith("guard="))).toHaveLength(1);
    expect(a.filter((x) => x.startsWith("sock="))).toHaveLength(1);
    // every descriptor it is told about survives the execve, and is made to before it
    const kept = f.calls.filter((c) => c.op === "keepAcrossExec").map((c) => `${c.args[0]}`);
    for (const x of a.filter((x) => /^(gate|results|ran|sock|guard)=/.test(x))) expect(kept).toContain(x.split("=")[1]!);
    expect(o.lastIndexOf("keepAcrossExec")).toBeLessThan(o.indexOf("execWaiter"));
    // each PATH candidate found gets its execve messages, the filter its own
    expect(a.some((x) => x.startsWith("execmsg=0:13:126:/usr/bin/true: cannot execute"))).toBe(true);
    expect(a.some((x) => x.startsWith("execmsg=1:"))).toBe(true);
    expect(a.filter((x) => x.startsWith("opmsg=")).map((x) => x.split(":")[0])).toEqual(["opmsg=5", "opmsg=5", "opmsg=5", "opmsg=5"]);
  });

  test("--as-pid-1 without a cgroup: a kill guard on the init's pidfd before 'go'; no socket for the waiter", () => {
    const f = fake();
    expect(supervise(plan(["--as-pid-1", "--pids", "unlimited", "--", "true"]), f)).toBeInstanceOf(Replaced);
    const o = f.ops();
    before(o, "cloneStage", "openPidfd");
    before(o, "openPidfd", "startGuard");
    before(o, "startGuard", "sendGo");
    const g = f.calls.find((c) => c.op === "startGuard")!;
    const pidfd = f.calls.find((c) => c.op === "openPidfd")!;
    expect(pidfd.args).toEqual([PID]);
    expect((g.args[1] as string[])[0]).toMatch(/^pidfd=\d+$/);
    const a = waiterArgs(f);
    expect(a.filter((x) => x.startsWith("sock="))).toEqual([]);
    expect(a.filter((x) => x.startsWith("guard="))).toHaveLength(1);
  });

  test("the clone fails: its errno, no waiter, nothing to kill; the cgroup is killed and removed and its guard stopped", () => {
    const f = fake({ cgroupDirs: V1_DIRS, cloneErrno: 1 });
    const out = supervise(plan(["--", "true"]), f);
    expect(out).toBeInstanceOf(SysError);
    expect((out as SysError).syscall).toBe("clone");
    expect((out as SysError).code).toBe("EPERM");
    const o = f.ops();
    for (const op of ["compileRest", "sendGo", "execWaiter", "kill", "reap"]) expect(o).not.toContain(op);
    before(o, "cloneStage", "cgroup.killAll");
    before(o, "cgroup.killAll", "cgroup.remove");
    before(o, "cgroup.remove", "guard.stop");
  });

  test("compiling the rest fails: the waiting child is killed and reaped before the error goes up, and the cgroup released", () => {
    const f = fake({ cgroupDirs: V1_DIRS, compileFails: true });
    const out = supervise(plan(["--", "true"]), f);
    expect((out as Error).message).toBe("compile: failed");
    const o = f.ops();
    expect(o).not.toContain("sendGo");
    before(o, "compileRest", "kill");
    before(o, "kill", "reap");
    before(o, "reap", "cgroup.killAll");
    expect(f.args("kill")).toEqual([PID]);
  });

  test("a stage failure (op index, errno): the child killed and reaped, the op's own one-line message, nothing executed", () => {
    const f = fake({ cgroupDirs: V1_DIRS, stageFails: [2, 2] });
    const out = supervise(plan(["--", "true"]), f) as Outcome;
    expect(out).toEqual({ status: 125, message: "set up the namespaces: mount /proc: ENOENT" });
    const o = f.ops();
    expect(o).not.toContain("execWaiter");
    expect(o).not.toContain("keepAcrossExec");
    before(o, "waitForSetup", "kill");
    before(o, "kill", "reap");
    before(o, "reap", "cgroup.killAll");
    expect(o).toContain("guard.stop");
  });

  test("a failure in the program's own process carries no setup prefix", () => {
    const f = fake({ stageFails: [4, 22] });
    const out = supervise(plan(["--pids", "unlimited", "--", "true"]), f) as Outcome;
    expect(out.status).toBe(125);
    expect(out.message).toBe("prctl: EINVAL");
  });

  test("no PATH candidate exists: exit 127 and the not-found message, nothing executed", () => {
    const f = fake({ statErrno: 2 });
    const out = supervise(plan(["--pids", "unlimited", "--", "true"]), f) as Outcome;
    expect(out.status).toBe(127);
    expect(out.message).toMatch(/^true: command not found inside the jail \(PATH=/);
    expect(f.ops()).not.toContain("execWaiter");
    before(f.ops(), "kill", "reap");
  });

  test("the waiter's execveat fails: 125 naming the errno; the child killed and reaped, guards stopped, the cgroup released", () => {
    const f = fake({ cgroupDirs: V1_DIRS, execErrno: 13 });
    const out = supervise(plan(["--", "true"]), f) as Outcome;
    expect(out).toEqual({ status: 125, message: "cannot execute jailx's waiter (sealed memfd): EACCES" });
    const o = f.ops();
    before(o, "execWaiter", "kill");
    before(o, "kill", "reap");
    before(o, "reap", "cgroup.killAll");
    before(o, "cgroup.remove", "guard.stop");
  });

  test("the parent's cgroup move fails while the jail is alive: the error goes up after the child is killed and reaped; 'placed' is never sent", () => {
    const f = fake({ cgroupDirs: V1_DIRS, addFails: true });
    const out = supervise(plan(["--memory", "64M", "--", "true"], { uid: 1000, gid: 1000 }), f);
    expect((out as SysError).code).toBe("EBUSY");
    const o = f.ops();
    expect(o).not.toContain("sendPlaced");
    before(o, "addToCgroup", "kill");
    before(o, "kill", "reap");
  });

  test("the fake is strict: an operation it does not know throws, and so does any once the waiter replaced the process", () => {
    const f = fake();
    expect(() => (f.k as unknown as { fork: () => void }).fork()).toThrow("unexpected operation: fork");
    expect(supervise(plan(["--pids", "unlimited", "--", "true"]), f)).toBeInstanceOf(Replaced);
    expect(f.afterExec).toEqual([]);
    expect(() => f.k.kill(PID)).toThrow(Replaced);
    expect(f.afterExec).toEqual(["kill"]);
  });
});

describe("jailx exec's parent side (joinJailStaged)", () => {
  const live = (p: Plan) => ({ kind: "live", record: { plan: p } }) as unknown as Judged & { kind: "live" };
  const join = (f: ReturnType<typeof fake>, tty = false): JoinResultOrError => {
    try {
      return joinJailStaged(live(plan(["--", "sleep", "9"])), { command: ["true"], tty }, null, f.jk);
    } catch (err) {
      return err as Error;
    }
  };
  type JoinResultOrError = ReturnType<typeof joinJailStaged> | Error;

  test("the joiner forks, is reaped, the new process enters the cgroups before 'go', and the waiter takes over last", () => {
    const f = fake();
    expect(join(f)).toBeInstanceOf(Replaced);
    const o = f.ops();
    before(o, "openTarget", "compileJoin");
    before(o, "compileJoin", "forkJoiner");
    before(o, "forkJoiner", "reap");
    expect(f.args("reap")).toEqual([4000]);
    before(o, "reap", "enterCgroups");
    expect(f.args("enterCgroups")![1]).toBe(PID);
    before(o, "enterCgroups", "sendGo");
    before(o, "sendGo", "waitForSetup");
    expect(o.at(-1)).toBe("execWaiter");
    expect(o).not.toContain("kill");
    const a = waiterArgs(f);
    expect(a.slice(0, 3)).toEqual(["jailx-wait", "wait", `pid=${PID}`]);
    expect(a).toContain("session=1");
    expect(a).toContain(`results=${RESULTS_FD}`);
    // the target's descriptors are closed once the joiner has them
    const closed = f.calls.filter((c) => c.op === "close").map((c) => c.args[0]);
    for (const fd of [60, 61]) expect(closed).toContain(fd);
  });

  test("with --tty the waiter keeps the caller's session", () => {
    const f = fake();
    expect(join(f, true)).toBeInstanceOf(Replaced);
    expect(waiterArgs(f)).toContain("session=0");
  });

  test("no process joined (the jail ended meanwhile): 125 naming the jail, nothing to kill, nothing executed", () => {
    const f = fake({ joinedPid: 0 });
    expect(join(f)).toEqual({ status: 125, message: "jail 'web' has ended" });
    for (const op of ["kill", "enterCgroups", "sendGo", "execWaiter"]) expect(f.ops()).not.toContain(op);
  });

  test("the joiner's own failure (setns) is its op's message, prefixed 'join: '", () => {
    const f = fake({ joinedPid: 0, stageFails: [6, 1] });
    expect(join(f)).toEqual({ status: 125, message: "join: setns /proc/777/ns/mnt: EPERM" });
    expect(f.ops()).not.toContain("waitForSetup");
  });

  test("entering the cgroups fails: the new process is killed and reaped before the error goes up; no 'go'", () => {
    const f = fake({ enterFails: true });
    expect((join(f) as SysError).code).toBe("ENODEV");
    const o = f.ops();
    expect(o).not.toContain("sendGo");
    before(o, "enterCgroups", "kill");
    expect(o.lastIndexOf("reap")).toBeGreaterThan(o.indexOf("kill"));
    expect(f.calls.filter((c) => c.op === "reap").map((c) => c.args[0])).toEqual([4000, PID]);
  });

  test("a setup failure of the new process: killed and reaped, its op's message; the waiter's execveat failing: 125 with the errno", () => {
    const f = fake({ stageFails: [4, 22] });
    expect(join(f)).toEqual({ status: 125, message: "prctl: EINVAL" });
    expect(f.ops().lastIndexOf("reap")).toBeGreaterThan(f.ops().indexOf("kill"));
    expect(f.ops()).not.toContain("execWaiter");
    const g = fake({ execErrno: 13 });
    expect(join(g)).toEqual({ status: 125, message: "cannot execute jailx's waiter (sealed memfd): errno 13" });
    before(g.ops(), "execWaiter", "kill");
    expect(g.args("kill")).toEqual([PID]);
  });
});
