// The order of `jailx exec`'s parent-side steps (jail/stage/join.ts) and its failure handling,
// checked against the strict recording fake of its seam (JoinKernel; tests/unit/fake-parent.ts).
// The real calls are covered by tests/manage/exec.test.ts.
import { describe, expect, test } from "bun:test";
import { SysError } from "../../sys/errors.ts";
import type { Plan } from "../../jail/plan.ts";
import type { Judged } from "../../jail/state.ts";
import { joinJailStaged } from "../../jail/stage/join.ts";
import { before, fake, PID, plan, Replaced, RESULTS_FD, waiterArgs } from "./fake-parent.ts";

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
    // our end of the message socket is closed before: the waiter must not hold the joined process's channel
    const [sock] = f.calls.find((c) => c.op === "socketPair")!.ret as number[];
    const closeSock = f.calls.findIndex((c) => c.op === "close" && c.args[0] === sock);
    expect(closeSock).toBeGreaterThan(o.indexOf("waitForSetup"));
    expect(closeSock).toBeLessThan(o.indexOf("execWaiter"));
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
