// `jailx exec` through the stage (jail/stage/compile.ts compileJoin): this multi-threaded Bun
// process opens what it needs from the host (a pidfd of the jail's program, its root, the jail's
// cgroups), lets the stage fork the process that joins, puts it in the jail's cgroups, and hands
// over to the waiter once the new process waits at the gate — the same steps, messages and
// guarantees as `run`. The decisions stay in jail/join.ts (which namespaces, the plan, --user).
import { REPORT_MAGIC, STAGE_REGISTERS } from "../../sys/stage.ts";
import { opError } from "./asm.ts";
import { enterCgroups, execPlan, openJoinTarget, resolveUser, type JoinOptions, type JoinResult } from "../join.ts";
import type { Judged } from "../state.ts";
import { compileJoin, JOIN_PID_SLOT } from "./compile.ts";
import { realParentKernel, run } from "./parent-kernel.ts";
import { afterSetup } from "./supervise.ts";

/** The parent side's seam for `exec`: the run's, and the steps only joining takes. */
export const realJoinKernel = {
  ...realParentKernel,
  /** the jail's program as a pidfd, its root, the namespaces to join and its cgroups, opened from the host */
  openTarget: openJoinTarget,
  compileJoin,
  /** the stage forks the process that joins (it forks the new process and exits); throws the fork's error */
  forkJoiner: (prog: ReturnType<typeof compileJoin>, regs: BigInt64Array, report: Int32Array): number => run(prog, regs, report, prog.regs.cloneErr.reg, "fork"),
  enterCgroups,
};
export type JoinKernel = typeof realJoinKernel;

export function joinJailStaged(j: Judged & { kind: "live" }, o: JoinOptions, seccomp: Buffer | null, k: JoinKernel = realJoinKernel): JoinResult {
  const t = k.openTarget(j);
  const { name, target, pid, flags, rootFd } = t;
  let plan = execPlan(j.record.plan, o);
  // --user from the jail's own /etc/passwd, seen through its root
  if (o.user !== undefined) plan = { ...plan, user: resolveUser(plan, o.user, `/proc/${pid}/root`) };

  const helper = k.openHelper();
  k.holdSignals();
  const [sock, childSock] = k.socketPair();
  const [execR, execW] = k.pipe();
  const [gateR, gateW] = k.pipe();
  const shared = k.resultsMemfd();
  const report = new Int32Array(shared.buf, 0, 4);
  const results = new BigInt64Array(shared.buf, 16);
  const prog = k.compileJoin(plan, flags, { pidfd: target, rootFd, sock: childSock, execW, gateR }, seccomp, results);
  const regs = new BigInt64Array(STAGE_REGISTERS);
  const first = k.forkJoiner(prog, regs, report);
  for (const fd of [childSock, execW, gateR, rootFd, target]) k.close(fd);
  // The first child joins and forks the new process (our child, CLONE_PARENT), then exits.
  k.reap(first);
  const child = Number(results[JOIN_PID_SLOT]);
  const fail = (out: JoinResult): JoinResult => {
    if (child > 0) {
      k.kill(child);
      k.reap(child);
    }
    return out;
  };
  if (child <= 0) {
    k.close(execR);
    const h = afterSetupFailure(report, prog);
    return { status: 125, message: h ?? `jail '${name}' has ended` };
  }
  try {
    k.enterCgroups(t, child);
    k.sendGo(sock);
  } catch (err) {
    fail({ status: 125 });
    throw err;
  }
  const h = afterSetup(plan, prog, execR, report, results, "join: ", k);
  if ("status" in h) return fail(h);
  const args = ["jailx-wait", "wait", `pid=${child}`, `gate=${gateW}`, `results=${shared.fd}`, `session=${o.tty ? 0 : 1}`, ...h.args];
  for (const fd of [gateW, shared.fd]) k.keepAcrossExec(fd);
  k.close(sock);
  const e = k.execWaiter(helper, args);
  return fail({ status: 125, message: `cannot execute jailx's waiter (sealed memfd): errno ${e}` });
}

/** The first child's own failure (setns), as its message. */
function afterSetupFailure(report: Int32Array, prog: ReturnType<typeof compileJoin>): string | null {
  return report[0] === REPORT_MAGIC ? `join: ${opError(prog.notes[report[1]!], report[2]!).message}` : null;
}
