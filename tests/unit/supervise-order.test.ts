// The order of the stage supervisor's parent-side steps (jail/stage/supervise.ts) and its failure
// handling, checked against a strict recording fake of the parent seam (jail/stage/parent-kernel.ts)
// and of the cgroup library (tests/unit/fake-parent.ts). Each assertion is an ordering constraint
// documented in supervise.ts. The real calls are covered by tests/run/stage.test.ts,
// handover.test.ts and helper.test.ts.
import { describe, expect, test } from "bun:test";
import { SysError } from "../../sys/errors.ts";
import type { Plan } from "../../jail/plan.ts";
import type { Outcome, Prepared } from "../../jail/supervisor.ts";
import { superviseStaged } from "../../jail/stage/supervise.ts";
import { before, fake, HELPER, HOLDER, PID, PLACER, plan, Replaced, RESULTS_FD, V1_DIRS, WARM, waiterArgs } from "./fake-parent.ts";

/** Runs the supervisor to its end: the waiter (Replaced), an outcome, or a thrown error. */
function supervise(p: Plan, f: ReturnType<typeof fake>, extra: Partial<Prepared> = {}): Outcome | Replaced | Error {
  const prepared: Prepared = { seccomp: null, cgroups: f.cgroups as Prepared["cgroups"], ...extra };
  try {
    return superviseStaged(p, prepared, () => {}, f.k);
  } catch (err) {
    return err as Error;
  }
}

describe("the stage supervisor's parent side", () => {
  test("the jail cgroup is created and its cleanup guard started before the clone; the clone before the rest is compiled", () => {
    const f = fake({ cgroupDirs: V1_DIRS });
    expect(supervise(plan(["--", "true"]), f)).toBeInstanceOf(Replaced);
    const o = f.ops();
    before(o, "cgroups.create", "startGuard");
    before(o, "startGuard", "cloneStage");
    expect(f.args("startGuard")).toEqual([HELPER, [...V1_DIRS.map((d) => `kill=${d}`), ...[...V1_DIRS].reverse().map((d) => `rmdir=${d}`)], []]);
    before(o, "compileJail", "cloneStage");
    // "go" at once: the rest is compiled after it, streamed to the jail as it comes
    before(o, "cloneStage", "sendGo");
    before(o, "sendGo", "compileRest");
    before(o, "compileRest", "sendPlaced");
    // stale jail cgroups are looked for while the jail starts its program, not before the clone
    before(o, "sendPlaced", "cgroups.cleanupStaleJailCgroups");
    before(o, "cgroups.cleanupStaleJailCgroups", "waitForSetup");
  });

  test("the masks that keep the jail's init off this CPU (sys/cpus.ts) are read before the jail is compiled and given to it, and to the memory holder", () => {
    const f = fake({});
    expect(supervise(plan(["--pids", "unlimited", "--", "true"]), f)).toBeInstanceOf(Replaced);
    before(f.ops(), "cpuSpread", "compileJail");
    expect(f.args("compileJail")![5]).toHaveProperty("cpus", null); // what cpuSpread returned
    expect(f.args("holdMemory")![1]).toBeUndefined();
    // and the memory holder is kept on this CPU: the program's process is off it until its gate
    const cpus = { away: Uint8Array.of(2), every: Uint8Array.of(0xff), home: Uint8Array.of(1) };
    const g = fake({ cpus });
    expect(supervise(plan(["--pids", "unlimited", "--", "true"]), g)).toBeInstanceOf(Replaced);
    expect(g.args("compileJail")![5]).toHaveProperty("cpus", cpus);
    expect(g.args("holdMemory")![1]).toBe(cpus.home);
  });

  test("a rootless jail: id maps written before 'go'; the placer (forked by the clone's stage program) reaped between 'go' and 'placed'", () => {
    const f = fake({ cgroupDirs: V1_DIRS });
    expect(supervise(plan(["--memory", "64M", "--", "true"], { uid: 1000, gid: 1000 }), f)).toBeInstanceOf(Replaced);
    const o = f.ops();
    before(o, "cloneStage", "writeIdMaps");
    before(o, "writeIdMaps", "sendGo");
    before(o, "sendGo", "reapStatus");
    before(o, "reapStatus", "sendPlaced");
    expect(f.calls.filter((c) => c.op === "reapStatus").map((c) => c.args)).toEqual([[WARM], [PLACER]]);
    expect(f.args("writeIdMaps")![1]).toBe(PID);
    expect(o).not.toContain("addToCgroup");
  });

  test("a root jail on cgroup v1: the placer gets the procs files; the parent waits for it (after compiling the rest) before 'placed'", () => {
    const f = fake({ cgroupDirs: V1_DIRS });
    expect(supervise(plan(["--", "true"]), f)).toBeInstanceOf(Replaced);
    expect((f.args("compileJail")![5] as { placer: string[] }).placer).toEqual(V1_DIRS.map((d) => `${d}/cgroup.procs`));
    const o = f.ops();
    expect(o).not.toContain("addToCgroup");
    expect(o).not.toContain("writeIdMaps");
    before(o, "compileRest", "reapStatus");
    before(o, "reapStatus", "sendPlaced");
  });

  test("cgroup v1: a child takes the migration's grace period right after the cgroup is made (in its pids hierarchy), before the clone; it is reaped before 'placed'", () => {
    const f = fake({ cgroupDirs: V1_DIRS });
    expect(supervise(plan(["--", "true"]), f)).toBeInstanceOf(Replaced);
    const o = f.ops();
    expect(f.args("warmMigration")).toEqual(["/sys/fs/cgroup/pids/jailx-1/cgroup.procs"]);
    before(o, "startGuard", "warmMigration");
    before(o, "warmMigration", "compileJail");
    before(o, "warmMigration", "cloneStage");
    expect(f.calls.filter((c) => c.op === "reapStatus").map((c) => c.args)).toEqual([[WARM], [PLACER]]);
    before(o, "compileRest", "reapStatus");
    before(o, "reapStatus", "sendPlaced");
  });

  test("cgroup v2 (the init starts in its cgroup) and jails without a cgroup: no warming child", () => {
    const v2 = fake({ cgroupDirs: ["/sys/fs/cgroup/jailx-1"], v2: true });
    expect(supervise(plan(["--", "true"]), v2)).toBeInstanceOf(Replaced);
    expect(v2.ops()).not.toContain("warmMigration");
    const none = fake({ cgroupDirs: V1_DIRS });
    expect(supervise(plan(["--pids", "unlimited", "--", "true"]), none)).toBeInstanceOf(Replaced);
    expect(none.ops()).not.toContain("warmMigration");
  });

  test("the placer failed: its op's one-line message, the child killed and reaped, 'placed' never sent", () => {
    const f = fake({ cgroupDirs: V1_DIRS, placerFails: [1, 16] });
    const out = supervise(plan(["--", "true"]), f) as Outcome;
    expect(out).toEqual({ status: 125, message: "write /sys/fs/cgroup/pids/jailx-1/cgroup.procs (the jail's init): EBUSY" });
    const o = f.ops();
    expect(o).not.toContain("sendPlaced");
    before(o, "reapStatus", "kill");
    before(o, "kill", "reap");
    before(o, "reap", "cgroup.killAll");
  });

  test("the placer died without a report: the parent moves the init itself", () => {
    const f = fake({ cgroupDirs: V1_DIRS, placerKilled: true });
    expect(supervise(plan(["--", "true"]), f)).toBeInstanceOf(Replaced);
    const o = f.ops();
    before(o, "reapStatus", "addToCgroup");
    before(o, "addToCgroup", "sendPlaced");
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
    // and it reaps each of them (the fake's guard pid is 5000 + its pipe's fd)
    const w = waiterArgs(f);
    expect(w.filter((a) => a.startsWith("reap="))).toEqual(w.filter((a) => a.startsWith("guard=")).map((a) => `reap=${5000 + Number(a.slice(6))}`));
  });

  test("systemd refuses the scope of a default limit: the holder is stopped, the limit dropped, and the jail goes on without a cgroup", () => {
    const f = fake({ cgroupDirs: ["/sys/fs/cgroup/system.slice/jailx-1.scope"], scope: true, scopeFails: true });
    expect(supervise(plan(["--", "true"]), f)).toBeInstanceOf(Replaced);
    const o = f.ops();
    before(o, "sendGo", "startGuard");
    before(o, "startGuard", "cgroups.jailScope");
    before(o, "cgroups.jailScope", "guard.stop");
    before(o, "guard.stop", "cgroups.dropDefaults");
    before(o, "cgroups.dropDefaults", "sendPlaced");
    expect(o.filter((x) => x === "startGuard")).toHaveLength(1);
    expect(f.args("events.cloned")).toBeUndefined();
    const a = waiterArgs(f);
    expect(a.filter((x) => /^(kill|rmdir|guard|oomfile)=/.test(x))).toEqual([]);
  });

  test("a named jail: 'cloned' after the cgroup move and before 'placed' (with the cgroup), 'started' before the waiter, whose extra arguments it takes", () => {
    const f = fake({ cgroupDirs: V1_DIRS });
    const out = supervise(plan(["--memory", "64M", "--", "true"], { uid: 1000, gid: 1000 }), f, { events: f.events, waiter: () => ({ args: ["unlink=/run/jailx/x"], keep: [99] }) });
    expect(out).toBeInstanceOf(Replaced);
    const o = f.ops();
    before(o, "reapStatus", "events.cloned");
    before(o, "events.cloned", "sendPlaced");
    expect(f.args("events.cloned")).toEqual([PID, V1_DIRS]);
    before(o, "waitForSetup", "events.started");
    before(o, "events.started", "execWaiter");
    expect(waiterArgs(f)).toContain("unlink=/run/jailx/x");
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
    // the holder of this memory reads the exec pipe the waiter is told of, and is the waiter's to reap
    expect(o.at(-2)).toBe("holdMemory");
    expect(`ran=${f.args("holdMemory")![0]}`).toBe(a.find((x) => x.startsWith("ran="))!);
    expect(a).toContain(`holder=${HOLDER}`);
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
    // the warming child is reaped before its cgroup is emptied and removed
    expect(f.calls.filter((c) => c.op === "reapStatus").map((c) => c.args)).toEqual([[WARM]]);
    before(o, "cloneStage", "reapStatus");
    before(o, "reapStatus", "cgroup.killAll");
    before(o, "cgroup.killAll", "cgroup.remove");
    before(o, "cgroup.remove", "guard.stop");
  });

  test("compiling the rest fails: the waiting child is killed and reaped before the error goes up, and the cgroup released", () => {
    const f = fake({ cgroupDirs: V1_DIRS, compileFails: true });
    const out = supervise(plan(["--", "true"]), f);
    expect((out as Error).message).toBe("compile: failed");
    const o = f.ops();
    expect(o).not.toContain("sendPlaced");
    before(o, "compileRest", "kill");
    before(o, "kill", "reap");
    before(o, "reap", "reapStatus"); // the placer too
    before(o, "reapStatus", "cgroup.killAll");
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
    // the memory's holder is ended and reaped too
    const killed = f.calls.filter((c) => c.op === "kill" || c.op === "reap").map((c) => `${c.op} ${c.args[0]}`);
    expect(killed).toContain(`kill ${HOLDER}`);
    expect(killed).toContain(`reap ${HOLDER}`);
  });

  test("the parent's cgroup move fails while the jail is alive: the error goes up after the child is killed and reaped; 'placed' is never sent", () => {
    const f = fake({ cgroupDirs: V1_DIRS, addFails: true, placerKilled: true });
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
