// The seam between the stage supervisor's parent side (jail/stage/supervise.ts, join.ts) and the
// kernel: every system call the supervisor makes itself, as a named step. The supervisor's logic
// calls only these, so the order of its steps and its failure handling are unit-tested against
// a strict recording fake (tests/unit/supervise-order.test.ts) and exercised for real by the
// integration tests (tests/run/stage.test.ts, handover.test.ts, helper.test.ts). The jail side's
// seam is `Kernel` (jail/kernel.ts); the cgroup library is injected through `Prepared.cgroups`.
//
// A plain object of functions, like `realKernel`: no per-call allocation on the start-up path.
import { SysError } from "../../sys/errors.ts";
import { errnoName } from "../../sys/errno.ts";
import * as proc from "../../sys/proc.ts";
import { sharedMemory } from "../../sys/proc.ts";
import { c, errno, ptr, syscall, toArrayBuffer } from "../../sys/ffi.ts";
import { cpuSpread } from "../../sys/cpus.ts";
import { formatIdMap, writeIdMaps } from "../../sys/ids.ts";
import { openPidfd } from "../../sys/pidfd.ts";
import { forwardToMainThread, helperMemfd, publishOps, runStage, stageReport, STAGE_REGISTERS } from "../../sys/stage.ts";
import type { JailCgroup } from "../../sys/cgroup/index.ts";
import { channel, send } from "../protocol.ts";
import type { Guard } from "../guard.ts";
import type { Plan } from "../plan.ts";
import { compileHolder, compileSpawn, compileWarmup, startJail, type StageProgram } from "./compile.ts";
import { NRS } from "./nr.ts";

const { SIG } = proc;
const AT_EMPTY_PATH = 0x1000;

export const realParentKernel = {
  /** the sealed helper executable (init, waiter, guard), made once per process */
  openHelper: helperMemfd,
  holdSignals,
  /** the helper in `guard` mode, holding `keep`; `args` say what it does at a bare EOF */
  startGuard: helperGuard,
  /** the message socket: [ours, the jail's] */
  socketPair: channel,
  pipe: proc.pipe,
  resultsMemfd,
  /** zeroed MAP_SHARED memory of n bytes (pages are touched only when written) */
  sharedMemory: (n: number): Buffer => Buffer.from(sharedMemory(n)),
  /** a cgroup v2 directory for clone3's CLONE_INTO_CGROUP (not O_PATH: the kernel wants it opened) */
  openCgroupDir: (dir: string): number =>
    c.open(ptr(Buffer.from(dir + "\0")), (process.arch === "arm64" ? 0o40000 : 0o200000) | 0o2000000 /* O_RDONLY|O_DIRECTORY|O_CLOEXEC */, 0),
  /** the masks that keep the jail's init off this CPU while it is built, or null (sys/cpus.ts) */
  cpuSpread,
  /** the jail compiled in two parts (the prologue, then `rest()` while the child waits for "go") */
  compileJail: startJail,
  /** the stage runs the prologue: clone, and the parent gets the pid (<= 0: failed, errno in regs) */
  cloneStage: runStage,
  close: proc.closeFd,
  openPidfd: (pid: number): number => {
    const fd = openPidfd(pid);
    if (typeof fd === "string") throw new SysError("pidfd_open", fd, 0, `pid ${pid}`);
    return fd;
  },
  writeIdMaps: writeMapsStaged,
  sendGo: (sock: number): void => send(sock, { t: "go" }),
  sendPlaced: (sock: number): void => send(sock, { t: "placed" }),
  addToCgroup: (cgroup: JailCgroup, pid: number): void => cgroup.addProcess(pid),
  /** until the exec pipe's EOF: every process of the jail executed, waits at the gate, or died */
  waitForSetup: (execR: number): void => {
    proc.waitForEof(execR);
    proc.closeFd(execR);
  },
  keepAcrossExec: (fd: number): void => proc.setCloexec(fd, false),
  now: Date.now,
  /** execveat of the helper in `wait` mode; returns only on failure, with the errno */
  execWaiter: execHelper,
  kill: (pid: number): void => void proc.kill(pid, SIG.KILL),
  reap: (pid: number): void => void proc.waitPid(pid),
  /** waitpid, and the exit status (128 + the signal's number for a killed child) */
  reapStatus: (pid: number): number => {
    const w = proc.waitPid(pid);
    return w?.code ?? 128 + (w?.signal ?? 0);
  },
  /** the first `n` ops of the program behind `report` are there: the stage may run them */
  publishOps,
  warmMigration,
  holdMemory,
};

export type ParentKernel = typeof realParentKernel;

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
const ALL_SIGNALS = Array.from({ length: 31 }, (_, i) => i + 1).filter((s) => s !== SIG.KILL && s !== SIG.STOP);

/**
 * A child that moves itself into the cgroup v1 `procs` file and exits (compileWarmup): the
 * placer's migration that follows does not wait for a grace period of its own. Its pid, or -1
 * (nothing to reap) when it could not be started, which only costs the wait it would have saved.
 */
export function warmMigration(procs: string): number {
  const pid = startChild(compileWarmup(procs));
  return pid > 0 ? pid : -1;
}

/**
 * The holder of this process's memory until the program's process has executed (compileHolder):
 * started right before the waiter is executed, reaped by the waiter. Its pid, or -1 when it
 * could not be started (then the program's execve tears the memory down, as it would anyway).
 */
export function holdMemory(fd: number, home?: Uint8Array): number {
  const pid = startChild(compileHolder(fd, home));
  return pid > 0 ? pid : -1;
}

/**
 * Run a spawning program (compile.ts's `spawning`): its child replays ops on a stack in `p.keep`
 * until it executes or exits, which this thread does not wait for, so `p.keep` is held for as
 * long as this process lives (a few children per run; the waiter's execve ends it). The pid, or
 * ≤ 0 for a refused clone.
 */
function startChild(p: StageProgram): number {
  const pid = runStage(p.code, p.length, new BigInt64Array(STAGE_REGISTERS), stageReport());
  childMemory.push(p.keep);
  return pid;
}
const childMemory: unknown[] = [];

/** Run a compiled program in the stage; the parent's RETURN value (a pid), or the clone's error. */
export function run(p: StageProgram, regs: BigInt64Array, report: Int32Array, errReg: number, what: string): number {
  const pid = runStage(p.code, p.length, regs, report);
  retain(p.keep); // the buffers the ops point at, alive until the stage has run
  if (pid <= 0) {
    const e = Number(regs[errReg]);
    throw new SysError(what, errnoName(e), e);
  }
  return pid;
}

/** Start the helper in `mode` as a child of this process, holding `keep` (and nothing else). */
export function spawnHelper(helper: number, argv: string[], keep: number[]): number {
  const p = compileSpawn(helper, argv, keep);
  const pid = run(p, new BigInt64Array(STAGE_REGISTERS), stageReport(), p.regs.err.reg, "fork");
  childMemory.push(p.keep); // its stack and ops, until it has executed (see startChild)
  return pid;
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

/** Keeps its argument reachable up to the call (buffers only an op's address refers to). */
export function retain(x: unknown): void {
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
