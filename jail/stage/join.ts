// `jailx exec` through the stage (jail/stage/compile.ts compileJoin): this multi-threaded Bun
// process opens what it needs from the host (a pidfd of the jail's program, its root, the jail's
// cgroups), lets the stage fork the process that joins, puts it in the jail's cgroups, and hands
// over to the waiter once the new process waits at the gate — the same steps, messages and
// guarantees as `run`. The decisions stay in jail/join.ts (which namespaces, the plan, --user).
import * as proc from "../../sys/proc.ts";
import { helperMemfd, REPORT_MAGIC, STAGE_REGISTERS } from "../../sys/stage.ts";
import { opError } from "./asm.ts";
import { enterCgroups, execPlan, openJoinTarget, resolveUser, type JoinOptions, type JoinResult } from "../join.ts";
import type { Judged } from "../state.ts";
import { channel, send } from "../protocol.ts";
import { compileJoin, JOIN_PID_SLOT } from "./compile.ts";
import { afterSetup, execHelper, holdSignals, resultsMemfd, run } from "./supervise.ts";


export function joinJailStaged(j: Judged & { kind: "live" }, o: JoinOptions, seccomp: Buffer | null): JoinResult {
  const t = openJoinTarget(j);
  const { name, target, pid, flags, rootFd } = t;
  let plan = execPlan(j.record.plan, o);
  // --user from the jail's own /etc/passwd, seen through its root
  if (o.user !== undefined) plan = { ...plan, user: resolveUser(plan, o.user, `/proc/${pid}/root`) };

  const helper = helperMemfd();
  holdSignals();
  const [sock, childSock] = channel();
  const [execR, execW] = proc.pipe();
  const [gateR, gateW] = proc.pipe();
  const shared = resultsMemfd();
  const report = new Int32Array(shared.buf, 0, 4);
  const results = new BigInt64Array(shared.buf, 16);
  const prog = compileJoin(plan, flags, { pidfd: target, rootFd, sock: childSock, execW, gateR }, seccomp, results);
  const regs = new BigInt64Array(STAGE_REGISTERS);
  const first = run(prog, regs, report, prog.regs.cloneErr.reg, "fork");
  for (const fd of [childSock, execW, gateR, rootFd, target]) proc.closeFd(fd);
  // The first child joins and forks the new process (our child, CLONE_PARENT), then exits.
  proc.waitPid(first);
  const child = Number(results[JOIN_PID_SLOT]);
  const fail = (out: JoinResult): JoinResult => {
    if (child > 0) {
      proc.kill(child, proc.SIG.KILL);
      proc.waitPid(child);
    }
    return out;
  };
  if (child <= 0) {
    proc.closeFd(execR);
    const h = afterSetupFailure(report, prog);
    return { status: 125, message: h ?? `jail '${name}' has ended` };
  }
  try {
    enterCgroups(t, child);
    send(sock, { t: "go" });
  } catch (err) {
    fail({ status: 125 });
    throw err;
  }
  const h = afterSetup(plan, prog, execR, report, results, "join: ");
  if ("status" in h) return fail(h);
  const args = ["jailx-wait", "wait", `pid=${child}`, `gate=${gateW}`, `results=${shared.fd}`, `session=${o.tty ? 0 : 1}`, ...h.args];
  for (const fd of [gateW, shared.fd]) proc.setCloexec(fd, false);
  proc.closeFd(sock);
  const e = execHelper(helper, args);
  return fail({ status: 125, message: `cannot execute jailx's waiter (sealed memfd): errno ${e}` });
}

/** The first child's own failure (setns), as its message. */
function afterSetupFailure(report: Int32Array, prog: ReturnType<typeof compileJoin>): string | null {
  return report[0] === REPORT_MAGIC ? `join: ${opError(prog.notes[report[1]!], report[2]!).message}` : null;
}
