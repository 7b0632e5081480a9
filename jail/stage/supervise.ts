// The supervisor on the stage path: this (multi-threaded) Bun process compiles the jail into an
// op list, lets the embedded stage clone and replay it, does what only the parent can (id maps,
// the placer, "go" and "placed"), waits until the program has been executed, and then
// replaces itself with the embedded helper in `wait` mode: no Bun process remains while the jail
// runs. Failures before that point are turned into the direct calls' messages here. Every
// system call of its own goes through the `ParentKernel` seam (parent-kernel.ts), so the order
// below is unit-tested against a strict recording fake (tests/unit/supervise-order.test.ts).
import { SysError } from "../../sys/errors.ts";
import { errnoName } from "../../sys/errno.ts";
import { REPORT_MAGIC, STAGE_REGISTERS } from "../../sys/stage.ts";
import type { JailCgroup } from "../../sys/cgroup/index.ts";
import { cloneFlags, placeCgroup, releaseCgroup, type GuardStarter, type Outcome, type Prepared, type StepLogger } from "../supervisor.ts";
import { execFailure } from "../init.ts";
import { guardForWaiter, type Guard } from "../guard.ts";
import type { Plan } from "../plan.ts";
import { opError } from "./asm.ts";
import type { JailProgram, StageProgram } from "./compile.ts";
import { OP_SIZE } from "./ops.ts";
import { realParentKernel, retain, type ParentKernel } from "./parent-kernel.ts";

// The helpers a named jail starts besides the supervisor (jail/named.ts).
export { helperGuard, helperLogger } from "./parent-kernel.ts";

const TIMEOUT_GRACE_MS = 2000;
const ENOENT = 2, ENOTDIR = 20;

function cgroupArgs(cg: JailCgroup): string[] {
  const dirs = cg.paths();
  return [...dirs.map((d) => `kill=${d}`), ...[...dirs].reverse().map((d) => `rmdir=${d}`)];
}

function stageGuards(k: ParentKernel, helper: number): GuardStarter {
  return {
    cleanup: (cg) => k.startGuard(helper, cgroupArgs(cg), []),
    holder: () => k.startGuard(helper, [], []),
  };
}

export function superviseStaged(plan: Plan, prepared: Prepared, logStep: StepLogger, k: ParentKernel = realParentKernel): Outcome {
  const helper = k.openHelper();
  k.holdSignals();
  const cg = placeCgroup(plan, prepared, logStep, stageGuards(k, helper));
  // On cgroup v1 the placer's migration (below) first waits for an RCU grace period, 5–25 ms
  // here: a child that moves itself into the jail cgroup now takes that wait while we clone and
  // compile, and the placer's migration, made while the kernel is still in that mode, does not
  // wait again. (On v2 the jail's init starts in its cgroup: no migration.)
  const warmup = cg.cgroup && !cg.cgroup.v2Dir() ? cg.cgroup.warmupProcs() : null;
  const warm = { pid: warmup ? k.warmMigration(warmup) : -1 };
  if (warm.pid > 0) logStep("a child takes the cgroup migration's grace period early");
  try {
    return superviseJail(k, plan, prepared, cg, helper, logStep, warm);
  } finally {
    // Reached only when the waiter was not started (it cleans up in our place otherwise); the
    // warming child first: it may still be in the cgroup.
    if (warm.pid > 0) k.reapStatus(warm.pid);
    releaseCgroup(cg, logStep);
  }
}

function superviseJail(k: ParentKernel, plan: Plan, prepared: Prepared, cg: ReturnType<typeof placeCgroup>, helper: number, logStep: StepLogger, warm: { pid: number }): Outcome {
  const [sock, childSock] = k.socketPair();
  const [execR, execW] = k.pipe();
  const [heldR, heldW] = plan.asPid1 ? [-1, -1] : k.pipe();
  const [gateR, gateW] = k.pipe();
  const [ranR, ranW] = k.pipe();
  const regs = new BigInt64Array(STAGE_REGISTERS);
  const shared = k.resultsMemfd();
  const report = new Int32Array(shared.buf, 0, 4);
  const results = new BigInt64Array(shared.buf, 16);
  // On cgroup v2 the jail's init starts in its cgroup (no migration to wait for).
  const v2 = cg.cgroup?.v2Dir() ?? null;
  const cgroupFd = v2 ? k.openCgroupDir(v2) : -1;
  // Clone first, then compile the rest while the jail replays it: its ops are streamed into the
  // shared region, and the jail's init waits at each op that is not there yet (report[3] counts
  // them). A jail with a cgroup (but for clone3 on v2) is moved into it by the placer, a second
  // child forked right after the clone, so that the migration's wait (an RCU grace period)
  // overlaps the compiling and the jail's own setup instead of following them; the init forks
  // the program only after "placed", which waits for the placer.
  const placer = cg.cgroup && cgroupFd < 0 ? cg.cgroup.procsFiles() : [];
  const code = k.sharedMemory(OPS_CAPACITY * OP_SIZE);
  const arena = k.sharedMemory(ARENA_BYTES);
  const stream = (from: number, records: Buffer) => {
    const to = from + records.length / OP_SIZE;
    if (to > OPS_CAPACITY) throw new Error(`stage: more than ${OPS_CAPACITY} operations`);
    records.copy(code, from * OP_SIZE);
    k.publishOps(report, to);
  };
  const cpus = k.cpuSpread();
  const jc = k.compileJail(plan, cloneFlags(plan), { sock: childSock, execW, heldR, heldW, helper, gateR, cgroupFd, ranW }, prepared.seccomp, results, { sharedArena: arena, placer, stream, cpus });
  jc.prologueCode.copy(code);
  report[3] = jc.prologueCode.length / OP_SIZE; // the rest comes streamed
  // Holds what the init's ops point at (its stack, registers, buffers) until the init executes.
  const spawner = jc.spawner(code, OPS_CAPACITY);
  logStep(`clone into new namespaces`);
  const pid = k.cloneStage(spawner.code, spawner.length, regs, report);
  if (pid <= 0) {
    const e = Number(regs[jc.regs.cloneErr.reg]);
    throw new SysError("clone", errnoName(e), e);
  }
  for (const fd of [childSock, execW, heldR, heldW, gateR, cgroupFd, ranW]) if (fd >= 0) k.close(fd);
  let placerPid = Number(regs[jc.regs.placer.reg]);
  /** The placer's exit status (null: there is none), once; the warming child is reaped with it. */
  const reapPlacer = (): number | null => {
    if (warm.pid > 0) k.reapStatus(warm.pid);
    warm.pid = -1;
    if (placerPid <= 0) return null;
    const code = k.reapStatus(placerPid);
    placerPid = 0;
    return code;
  };
  if (placerPid > 0) logStep("the placer moves the jail's init into its cgroup");
  const placedByClone = regs[jc.regs.into.reg] === 1n;
  if (placedByClone) logStep("the jail's init started in its cgroup (clone3)");
  const started = k.now();
  let killGuard: (Guard & { w: number }) | null = null;
  const fail = (out: Outcome): Outcome => {
    k.kill(pid);
    k.reap(pid);
    reapPlacer();
    killGuard?.stop();
    return out;
  };
  try {
    if (plan.asPid1 && !cg.cgroup) {
      const pidfd = k.openPidfd(pid);
      killGuard = k.startGuard(helper, [`pidfd=${pidfd}`], [pidfd]);
      k.close(pidfd);
    }
    if (plan.idmap) {
      logStep("write the id maps");
      k.writeIdMaps(plan, pid);
    }
    k.sendGo(sock);
    logStep("jail: set up the namespaces");
  } catch (err) {
    fail({ status: 125 });
    throw err;
  }
  logStep("compile the jail (the jail replays it as it comes)");
  let prog: JailProgram;
  try {
    prog = jc.rest();
    if (prog.execSlots.length * 2 + 1 > results.length) throw new Error("stage: too many PATH candidates");
  } catch (err) {
    fail({ status: 125 });
    throw err;
  }
  logStep(`compiled (${prog.length} operations)`);
  try {
    try {
      const placed = reapPlacer();
      if (placed !== null && placed !== 0) {
        // Its failure is in its report (the op and errno), like the jail's own in the jail's.
        const failure = jc.placer && reportedFailure(jc.placer.program, 0, jc.placer.report, "");
        if (failure) return fail(failure);
        k.addToCgroup(cg.cgroup!, pid);
      } else if (placed === null && cg.cgroup && !placedByClone) k.addToCgroup(cg.cgroup, pid);
      else if (cg.around) {
        logStep("ask systemd for the jail's scope");
        cg.cgroup = cg.around(pid);
        if (cg.cgroup) cg.guard = k.startGuard(helper, cgroupArgs(cg.cgroup), []);
      }
    } catch (err) {
      // The jail may have failed (and exited) meanwhile: then the report says why.
      if (report[0] !== REPORT_MAGIC) throw err;
    }
    // A named jail: its entry learns the init's pid and the cgroup (after placement: a systemd
    // scope's cgroup is known only now).
    prepared.events?.cloned(pid, cg.cgroup?.paths() ?? []);
    k.sendPlaced(sock);
    logStep("jail: start the program");
    // While the jail forks the program and that reaches its gate.
    cg.tidy?.();
  } catch (err) {
    fail({ status: 125 });
    throw err;
  }
  logStep("wait for the program's execve");
  const h = afterSetup(plan, prog, execR, report, results, "set up the namespaces: ", k);
  if ("status" in h) return fail(h);
  const args = ["jailx-wait", "wait", `pid=${pid}`, `grace=${TIMEOUT_GRACE_MS}`, `gate=${gateW}`, `results=${shared.fd}`, `ran=${ranR}`, ...h.args];
  if (!plan.asPid1) args.push(`sock=${sock}`);
  if (plan.timeoutMs !== null) args.push(`timeout=${Math.max(0, plan.timeoutMs - (k.now() - started))}`, `timeoutmsg=killed: timeout after ${fmtMs(plan.timeoutMs)}`);
  const keep = [sock, gateW, shared.fd, ranR];
  if (cg.cgroup) {
    const oom = cg.cgroup.oomFile();
    if (oom) args.push(`oomfile=${oom}`, "oomkey=oom_kill", `oommsg=${cg.cgroup.describeOom()}`);
    args.push(...cgroupArgs(cg.cgroup));
  }
  // The waiter holds every guard's pipe (and a systemd scope's holder: the scope, and with it its
  // OOM counter, must outlive the jail until the waiter has read it), and reaps each guard once
  // it told it that it is done.
  for (const g of [cg.guard, cg.holder, killGuard]) guardForWaiter(g, args, keep);
  // A named jail: the record is sealed now (its program waits at the gate), and the waiter ends
  // the registration in our place.
  prepared.events?.started(pid);
  const more = prepared.waiter?.();
  if (more) {
    args.push(...more.args);
    keep.push(...more.keep);
  }
  for (const fd of keep) k.keepAcrossExec(fd);
  // The jail's init and the program's process share this memory (CLONE_VM): a child holds it,
  // so that its teardown is not the program's execve's work.
  const holder = k.holdMemory(ranR, cpus?.home);
  if (holder > 0) args.push(`holder=${holder}`);
  logStep("hand over to the waiter");
  logStep("program: execve");
  const e = k.execWaiter(helper, args);
  if (holder > 0) {
    k.kill(holder);
    k.reap(holder);
  }
  // Not reached once the waiter runs; up to here the init's memory (in this process's address
  // space) must not be collected: it runs there until it executes jailx's init.
  retain(spawner);
  return fail({ status: 125, message: `cannot execute jailx's waiter (sealed memfd): ${errnoName(e)}` });
}

/**
 * Once the exec pipe reached EOF: the setup's failure (the op's own message, `prefix` before
 * ops that are not the program's process's), a name found nowhere — or, the program's process
 * waiting at the gate, the waiter's arguments for what can still fail: each execve errno's
 * message per PATH candidate that exists (execmsg) and the filter's (opmsg).
 */
export function afterSetup(plan: Plan, prog: JailProgram, execR: number, report: Int32Array, results: BigInt64Array, prefix: string, k: ParentKernel = realParentKernel): Outcome | { args: string[] } {
  // Made while the program's process is on its way to the gate, which we would only wait for.
  const messages = waiterMessages(plan, prog);
  k.waitForSetup(execR);
  const failure = reportedFailure(prog, prog.programStart, report, prefix);
  if (failure) return failure;
  const existing = prog.execSlots.flatMap((_, i) => {
    const e = Number(results[1 + 2 * i]);
    return e === ENOENT || e === ENOTDIR ? [] : [i];
  });
  if (existing.length === 0) {
    const m = execFailure(plan, { errno: ENOENT, path: plan.command[0]! }, false);
    return { status: m.exit, message: m.message };
  }
  return { args: [...existing.flatMap((i) => messages.exec[i]!), ...messages.op] };
}

/** Per PATH candidate, the waiter's message for each execve errno; then the filter's (opmsg). */
function waiterMessages(plan: Plan, prog: JailProgram): { exec: string[][]; op: string[] } {
  const exec = prog.execSlots.map((s, i) => [
    ...EXEC_ERRNOS.map((e) => {
      const m = execFailure(plan, { errno: e, path: s.path }, true);
      return `execmsg=${i}:${e}:${m.exit}:${m.message}`;
    }),
    `execmsg=${i}:0:126:${s.path}: cannot execute`,
  ]);
  const op: string[] = [];
  for (let i = prog.programStart; i < prog.length; i++) {
    const n = prog.notes[i];
    if (n?.syscall === "seccomp") for (const e of [13, 22, 12, 14]) op.push(`opmsg=${i}:${e}:${opError(n, e).message}`);
  }
  return { exec, op };
}

/**
 * The failure the stage reported (an op of `prog` and its errno) as the direct call's message,
 * if any; `prefix` before ops ahead of `programStart` (the setup's, not the program's).
 */
function reportedFailure(prog: StageProgram, programStart: number, report: Int32Array, prefix: string): Outcome | null {
  if (report[0] !== REPORT_MAGIC) return null;
  const at = report[1]!;
  const err = opError(prog.notes[at], report[2]!);
  return { status: 125, message: (at >= programStart ? "" : prefix) + err.message };
}

/** Room for a jail's ops and for the buffers they point at, in memory shared with the child. */
const OPS_CAPACITY = 8192, ARENA_BYTES = 2 << 20;

/** execve errnos whose message is decided in advance (the rest: "cannot execute (errno N)"). */
const EXEC_ERRNOS = [1, 2, 7, 8, 12, 13, 20, 21, 22, 26, 36, 40];

function fmtMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}
