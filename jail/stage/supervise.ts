// The supervisor on the stage path: this (multi-threaded) Bun process compiles the jail into an
// op list, lets the embedded stage clone and replay it, does what only the parent can (id maps,
// the cgroup move, "go" and "placed"), waits until the program has been executed, and then
// replaces itself with the embedded helper in `wait` mode: no Bun process remains while the jail
// runs. Failures before that point are turned into the direct calls' messages here.
import { SysError } from "../../sys/errors.ts";
import { errnoName } from "../../sys/errno.ts";
import * as proc from "../../sys/proc.ts";
import { sharedMemory } from "../../sys/proc.ts";
import { c, errno, ptr, syscall, toArrayBuffer } from "../../sys/ffi.ts";
import { NRS } from "./nr.ts";
import { formatIdMap, writeIdMaps } from "../../sys/ids.ts";
import { openPidfd } from "../../sys/pidfd.ts";
import { forwardToMainThread, helperMemfd, publishOps, runStage, stageReport, REPORT_MAGIC, STAGE_REGISTERS } from "../../sys/stage.ts";
import type { JailCgroup } from "../../sys/cgroup/index.ts";
import { cloneFlags, placeCgroup, releaseCgroup, type GuardStarter, type Outcome, type Prepared, type StepLogger } from "../supervisor.ts";
import { execFailure } from "../init.ts";
import { channel, send } from "../protocol.ts";
import type { Guard } from "../guard.ts";
import type { Plan } from "../plan.ts";
import { opError, type OpNote } from "./asm.ts";
import { compileSpawn, startJail, type JailProgram } from "./compile.ts";
import { encodeOps, OP_SIZE, type RawOp } from "./ops.ts";

const { SIG } = proc;
const TIMEOUT_GRACE_MS = 2000;
const ENOENT = 2, ENOTDIR = 20;
const AT_EMPTY_PATH = 0x1000;

/** Run a compiled program in the stage; the parent's RETURN value (a pid), or the clone's error. */
export function run(p: { ops: RawOp[]; keep: unknown[]; notes: (OpNote | null)[] }, regs: BigInt64Array, report: Int32Array, errReg: number, what: string): number {
  const code = encodeOps(p.ops);
  const pid = runStage(code, p.ops.length, regs, report);
  retain(p.keep); // the buffers the ops point at, alive until the stage has run
  if (pid <= 0) {
    const e = Number(regs[errReg]);
    throw new SysError(what, errnoName(e), e);
  }
  return pid;
}

/** Start the helper in `mode` as a child of this process, holding `keep` (and nothing else). */
export function spawnHelper(helper: number, argv: string[], keep: number[]): number {
  const regs = new BigInt64Array(STAGE_REGISTERS);
  const report = stageReport();
  const p = compileSpawn(helper, argv, keep);
  return run(p, regs, report, p.regs.err.reg, "fork");
}

/** A guard: the helper in `guard` mode, acting once our end of its pipe closes (any exit). */
export function helperGuard(helper: number, args: string[], keep: number[] = []): Guard & { w: number } {
  const [r, w] = proc.pipe();
  const pid = spawnHelper(helper, ["jailx-guard", "guard", `pipe=${r}`, ...args], [r, ...keep]);
  proc.closeFd(r);
  return {
    pid,
    w,
    stop() {
      // One byte first: we ended normally and cleaned up; the guard acts only on a bare EOF.
      c.write(w, ptr(Buffer.from("d")), 1);
      proc.closeFd(w);
      proc.waitPid(pid);
    },
  };
}

/** A detached jail's log writer: the helper in `log` mode reading the pipe whose write end we return. */
export function helperLogger(helper: number, path: string, maxBytes: number): { fd: number; pid: number } {
  const [r, w] = proc.pipe();
  const pid = spawnHelper(helper, ["jailx-log", "log", `pipe=${r}`, `path=${path}`, `max=${maxBytes}`], [r]);
  proc.closeFd(r);
  return { fd: w, pid };
}

function cgroupArgs(cg: JailCgroup): string[] {
  const dirs = cg.paths();
  return [...dirs.map((d) => `kill=${d}`), ...[...dirs].reverse().map((d) => `rmdir=${d}`)];
}

function stageGuards(helper: number): GuardStarter {
  return {
    cleanup: (cg) => helperGuard(helper, cgroupArgs(cg)),
    holder: () => helperGuard(helper, []),
  };
}

/** newuidmap/newgidmap, through the stage (no JavaScript in the forked child). */
function writeMapsStaged(plan: Plan, pid: number): void {
  const m = plan.idmap!;
  if (m.writer === "supervisor") return writeIdMaps(pid, m.uid, m.gid, m.denySetgroups);
  for (const [tool, ranges] of [["newuidmap", m.uid], ["newgidmap", m.gid]] as const) {
    const path = ["/usr/bin", "/bin", "/usr/sbin", "/sbin"].map((d) => `${d}/${tool}`).find((p) => c.access(ptr(Buffer.from(p + "\0")), 1) === 0);
    const args = [tool, String(pid), ...ranges.flatMap((r) => [String(r.inside), String(r.outside), String(r.count)])];
    const child = path ? spawnExecutable(path, args) : -1;
    const w = child > 0 ? proc.waitPid(child) : null;
    if (!w || w.code !== 0)
      throw new SysError(tool, "EPERM", 1, formatIdMap(ranges).trim().replace(/\n/g, "; "), undefined,
        `${tool} failed (status ${w ? proc.shellStatus(w) : 127}); is the uidmap package installed and /etc/subuid set?`);
  }
}

/** fork + execveat of a host executable (the file is opened O_PATH here, by the supervisor). */
function spawnExecutable(path: string, argv: string[]): number {
  const exe = c.open(ptr(Buffer.from(path + "\0")), 0o10000000 | 0o2000000 /* O_PATH|O_CLOEXEC */, 0);
  if (exe < 0) return -1;
  try {
    return spawnHelper(exe, argv, []);
  } finally {
    proc.closeFd(exe);
  }
}

export function superviseStaged(plan: Plan, prepared: Prepared, logStep: StepLogger): Outcome {
  const helper = helperMemfd();
  holdSignals();
  const cg = placeCgroup(plan, prepared, logStep, stageGuards(helper));
  try {
    return superviseJail(plan, prepared, cg, helper, logStep);
  } finally {
    // Reached only when the waiter was not started (it cleans up in our place otherwise).
    releaseCgroup(cg, logStep);
  }
}

/**
 * From here until the waiter runs, every signal stays blocked in this thread (the jail's
 * processes inherit the mask: none is lost before their init reads them), and the forwarded
 * ones that Bun's other threads take are handed to this thread (sys/stage.ts): they are still
 * pending when the waiter, executed from here, starts reading them.
 */
export function holdSignals(): void {
  proc.blockSignals(ALL_SIGNALS);
  forwardToMainThread(proc.FORWARDED_SIGNALS);
}

function superviseJail(plan: Plan, prepared: Prepared, cg: ReturnType<typeof placeCgroup>, helper: number, logStep: StepLogger): Outcome {
  const [sock, childSock] = channel();
  const [execR, execW] = proc.pipe();
  const [heldR, heldW] = plan.asPid1 ? [-1, -1] : proc.pipe();
  const [gateR, gateW] = proc.pipe();
  const [ranR, ranW] = proc.pipe();
  const regs = new BigInt64Array(STAGE_REGISTERS);
  const shared = resultsMemfd();
  const report = new Int32Array(shared.buf, 0, 4);
  const results = new BigInt64Array(shared.buf, 16);
  // On cgroup v2 the jail's init starts in its cgroup (no migration to wait for).
  const v2 = cg.cgroup?.v2Dir() ?? null;
  // (not O_PATH: the kernel wants the cgroup directory itself opened)
  const cgroupFd = v2 ? c.open(ptr(Buffer.from(v2 + "\0")), (process.arch === "arm64" ? 0o40000 : 0o200000) | 0o2000000 /* O_RDONLY|O_DIRECTORY|O_CLOEXEC */, 0) : -1;
  // Clone first, then compile the rest while the jail replays it: its ops are streamed into the
  // shared region, and the jail's init waits at each op that is not there yet (report[3] counts
  // them). A jail with a cgroup (but for clone3 on v2) is moved into it by the placer, a second
  // child forked right after the clone, so that the migration's wait (an RCU grace period)
  // overlaps the compiling and the jail's own setup instead of following them; the init forks
  // the program only after "placed", which waits for the placer.
  const placer = cg.cgroup && cgroupFd < 0 ? cg.cgroup.procsFiles() : [];
  const code = sharedBytes(OPS_CAPACITY * OP_SIZE);
  const arena = sharedBytes(ARENA_BYTES);
  const stream = (from: number, records: Buffer) => {
    const to = from + records.length / OP_SIZE;
    if (to > OPS_CAPACITY) throw new Error(`stage: more than ${OPS_CAPACITY} operations`);
    records.copy(code, from * OP_SIZE);
    publishOps(report, to);
  };
  const jc = startJail(plan, cloneFlags(plan), { sock: childSock, execW, heldR, heldW, helper, gateR, cgroupFd, ranW }, prepared.seccomp, results, { sharedArena: arena, placer, stream });
  encodeOps(jc.prologue).copy(code);
  report[3] = jc.prologue.length;
  logStep(`clone into new namespaces`);
  const pid = runStage(code, OPS_CAPACITY, regs, report);
  if (pid <= 0) {
    const e = Number(regs[jc.regs.cloneErr.reg]);
    throw new SysError("clone", errnoName(e), e);
  }
  for (const fd of [childSock, execW, heldR, heldW, gateR, cgroupFd, ranW]) if (fd >= 0) proc.closeFd(fd);
  let placerPid = Number(regs[jc.regs.placer.reg]);
  /** The placer's exit status (null: there is none), once. */
  const reapPlacer = (): number | null => {
    if (placerPid <= 0) return null;
    const w = proc.waitPid(placerPid);
    placerPid = 0;
    return w?.code ?? 128;
  };
  if (placerPid > 0) logStep("the placer moves the jail's init into its cgroup");
  const placedByClone = regs[jc.regs.into.reg] === 1n;
  if (placedByClone) logStep("the jail's init started in its cgroup (clone3)");
  const started = Date.now();
  let killGuard: (Guard & { w: number }) | null = null;
  const fail = (out: Outcome): Outcome => {
    proc.kill(pid, SIG.KILL);
    proc.waitPid(pid);
    reapPlacer();
    killGuard?.stop();
    return out;
  };
  try {
    if (plan.asPid1 && !cg.cgroup) {
      const pidfd = openPidfd(pid);
      if (typeof pidfd === "string") throw new SysError("pidfd_open", pidfd, 0, `pid ${pid}`);
      killGuard = helperGuard(helper, [`pidfd=${pidfd}`], [pidfd]);
      proc.closeFd(pidfd);
    }
    if (plan.idmap) {
      logStep("write the id maps");
      writeMapsStaged(plan, pid);
    }
    send(sock, { t: "go" });
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
        // Its failure is in the report (the op and errno), like the jail's own.
        const failure = reportedFailure(prog, report, "");
        if (failure) return fail(failure);
        cg.cgroup!.addProcess(pid);
      } else if (placed === null && cg.cgroup && !placedByClone) cg.cgroup.addProcess(pid);
      else if (cg.around) {
        logStep("ask systemd for the jail's scope");
        cg.cgroup = cg.around(pid);
        if (cg.cgroup) cg.guard = helperGuard(helper, cgroupArgs(cg.cgroup));
      }
    } catch (err) {
      // The jail may have failed (and exited) meanwhile: then the report says why.
      if (report[0] !== REPORT_MAGIC) throw err;
    }
    // A named jail: its entry learns the init's pid and the cgroup (after placement: a systemd
    // scope's cgroup is known only now).
    prepared.events?.cloned(pid, cg.cgroup?.paths() ?? []);
    send(sock, { t: "placed" });
    logStep("jail: start the program");
  } catch (err) {
    fail({ status: 125 });
    throw err;
  }
  logStep("wait for the program's execve");
  const h = afterSetup(plan, prog, execR, report, results, "set up the namespaces: ");
  if ("status" in h) return fail(h);
  const args = ["jailx-wait", "wait", `pid=${pid}`, `grace=${TIMEOUT_GRACE_MS}`, `gate=${gateW}`, `results=${shared.fd}`, `ran=${ranR}`, ...h.args];
  if (!plan.asPid1) args.push(`sock=${sock}`);
  if (plan.timeoutMs !== null) args.push(`timeout=${Math.max(0, plan.timeoutMs - (Date.now() - started))}`, `timeoutmsg=killed: timeout after ${fmtMs(plan.timeoutMs)}`);
  const keep = [sock, gateW, shared.fd, ranR];
  if (cg.cgroup) {
    const oom = cg.cgroup.oomFile();
    if (oom) args.push(`oomfile=${oom}`, "oomkey=oom_kill", `oommsg=${cg.cgroup.describeOom()}`);
    args.push(...cgroupArgs(cg.cgroup));
  }
  // The waiter holds every guard's pipe (and a systemd scope's holder: the scope, and with it its
  // OOM counter, must outlive the jail until the waiter has read it).
  for (const g of [cg.guard, cg.holder, killGuard] as ((Guard & { w?: number }) | null | undefined)[]) {
    if (g?.w === undefined) continue;
    args.push(`guard=${g.w}`);
    keep.push(g.w);
  }
  // A named jail: the record is sealed now (its program waits at the gate), and the waiter ends
  // the registration in our place.
  prepared.events?.started(pid);
  const more = prepared.waiter?.();
  if (more) {
    args.push(...more.args);
    keep.push(...more.keep);
  }
  for (const fd of keep) proc.setCloexec(fd, false);
  logStep("hand over to the waiter");
  logStep("program: execve");
  const e = execHelper(helper, args);
  return fail({ status: 125, message: `cannot execute jailx's waiter (sealed memfd): ${errnoName(e)}` });
}

/**
 * Once the exec pipe reached EOF: the setup's failure (the op's own message, `prefix` before
 * ops that are not the program's process's), a name found nowhere — or, the program's process
 * waiting at the gate, the waiter's arguments for what can still fail: each execve errno's
 * message per PATH candidate that exists (execmsg) and the filter's (opmsg).
 */
export function afterSetup(plan: Plan, prog: JailProgram, execR: number, report: Int32Array, results: BigInt64Array, prefix: string): Outcome | { args: string[] } {
  proc.waitForEof(execR);
  proc.closeFd(execR);
  const failure = reportedFailure(prog, report, prefix);
  if (failure) return failure;
  const existing = prog.execSlots.flatMap((s, i) => {
    const e = Number(results[1 + 2 * i]);
    return e === ENOENT || e === ENOTDIR ? [] : [{ ...s, i }];
  });
  if (existing.length === 0) {
    const m = execFailure(plan, { errno: ENOENT, path: plan.command[0]! }, false);
    return { status: m.exit, message: m.message };
  }
  const args: string[] = [];
  for (const s of existing) {
    for (const e of EXEC_ERRNOS) {
      const m = execFailure(plan, { errno: e, path: s.path }, true);
      args.push(`execmsg=${s.i}:${e}:${m.exit}:${m.message}`);
    }
    args.push(`execmsg=${s.i}:0:126:${s.path}: cannot execute`);
  }
  prog.notes.forEach((n, i) => {
    if (i < prog.programStart || n?.syscall !== "seccomp") return;
    for (const e of [13, 22, 12, 14]) args.push(`opmsg=${i}:${e}:${opError(n, e).message}`);
  });
  return { args };
}

/** The failure the stage reported (an op and its errno) as the direct call's message, if any. */
function reportedFailure(prog: JailProgram, report: Int32Array, prefix: string): Outcome | null {
  if (report[0] !== REPORT_MAGIC) return null;
  const at = report[1]!;
  const err = opError(prog.notes[at], report[2]!);
  return { status: 125, message: (at >= prog.programStart ? "" : prefix) + err.message };
}

/** Keeps its argument reachable up to the call (buffers only an op's address refers to). */
function retain(x: unknown): void {
  if (x === retain) throw new Error("unreachable");
}

/** execveat of the helper; returns only on failure, with the errno. */
export function execHelper(helper: number, argv: string[]): number {
  const a = argv.map((s) => Buffer.from(s + "\0"));
  const arr = new BigInt64Array(a.length + 1);
  a.forEach((b, i) => (arr[i] = BigInt(ptr(b))));
  const env = new BigInt64Array(1);
  const empty = Buffer.from("\0");
  syscall(NRS.execveat, helper, ptr(empty), ptr(arr), ptr(env), AT_EMPTY_PATH);
  retain([a, empty, env]);
  return errno();
}

/** Room for a jail's ops and for the buffers they point at, in memory shared with the child. */
const OPS_CAPACITY = 8192, ARENA_BYTES = 2 << 20;

/** Zeroed MAP_SHARED memory of `n` bytes (pages are touched only when written). */
function sharedBytes(n: number): Buffer {
  return Buffer.from(sharedMemory(n));
}
/** execve errnos whose message is decided in advance (the rest: "cannot execute (errno N)"). */
const EXEC_ERRNOS = [1, 2, 7, 8, 12, 13, 20, 21, 22, 26, 36, 40];

/**
 * Memory shared with the jail's processes and readable by the waiter after its execve: the
 * stage's failure report (bytes 0–15) and the results of the program's process (from byte 16).
 */
export function resultsMemfd(): { fd: number; buf: ArrayBuffer } {
  const fd = Number(syscall(NRS.memfd_create, ptr(Buffer.from("jailx-results\0")), 1 /* MFD_CLOEXEC */));
  if (fd < 0) throw new SysError("memfd_create", errnoName(errno()), errno(), "jailx-results");
  if (syscall(NRS.ftruncate, fd, 4096) < 0n) throw new SysError("ftruncate", errnoName(errno()), errno(), "jailx-results");
  const p = c.mmap(null, 4096, 3 /* PROT_READ|PROT_WRITE */, 1 /* MAP_SHARED */, fd, 0) as unknown as number;
  if (!p || p === -1) throw new SysError("mmap", errnoName(errno()), errno(), "jailx-results");
  return { fd, buf: toArrayBuffer(p as never, 0, 4096) };
}
const ALL_SIGNALS = Array.from({ length: 31 }, (_, i) => i + 1).filter((s) => s !== SIG.KILL && s !== SIG.STOP);

function fmtMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}
