// The jail's whole life from clone to execve, compiled into one op list for the stage
// (jail/stage/stage.c). The decisions are jail/child.ts's own, made through the compiled kernel;
// this file only lays out the processes:
//
//   supervisor: clone ─┬─ (parent) RETURN the child's pid to TypeScript
//                      └─ PID 1: wait "go"; setupNamespace; wait "placed";
//                         ├─ --as-pid-1: becomeProgram → execve
//                         └─ fork ─┬─ program: wait until init is non-dumpable; becomeProgram → execve
//                                  └─ PID 1: close fds; drop privileges; execveat(helper "init")
//
// Every descriptor the processes share is made by the supervisor before clone, so its number is
// known here. A failure the plan did not tolerate ends the failing process with the op's index
// and errno in the shared report; the supervisor turns that into the direct call's message.
import { becomeProgram, dropPrivileges, setupNamespace } from "../child.ts";
import type { Plan } from "../plan.ts";
import { Asm, REGISTERS, type OpNote, type Reg } from "./asm.ts";
import { compileKernel, type ExecSlot } from "./compile-kernel.ts";
import { NRS } from "./nr.ts";
import { decodeOps, type RawOp } from "./ops.ts";
import { stackTop, stageEntry } from "../../sys/stage.ts";
import { ptr } from "../../sys/ffi.ts";
import type { CpuSpread } from "../../sys/cpus.ts";

const SIGCHLD = 17, SIGKILL = 9, AT_EMPTY_PATH = 0x1000, F_SETFD = 2, SIG_SETMASK = 2, POLLRDHUP = 0x2000;
const CLONE_VM = 0x100;
const CLONE_INTO_CGROUP = 0x200000000n, CLONE_PARENT = 0x8000;
const PR_SET_DUMPABLE = 4;

/** Descriptors the supervisor made before clone (all close-on-exec there). */
export interface JailFds {
  /** the jail's end of the message socket: "go" and "placed" come in; init reports on it */
  sock: number;
  /** written by nobody: EOF once every process of the jail has executed (or died) */
  execW: number;
  /** the program's process waits for EOF on heldR until init is non-dumpable */
  heldR: number;
  heldW: number;
  /** the sealed helper executable */
  helper: number;
  /** the program's process waits for EOF here (the waiter closes the other end once it waits) */
  gateR: number;
  /** a cgroup v2 directory to start the jail's init in (clone3 CLONE_INTO_CGROUP), or -1 */
  cgroupFd?: number;
  /** held by the program's process through its execve (close-on-exec): the waiter's EOF */
  ranW?: number;
}

/** A finished op list: its records as the stage reads them, and what each op's failure means. */
export interface StageProgram {
  /** the records (encodeOps format); `ops` decodes them, for tests and --dry-run */
  code: Buffer;
  ops: RawOp[];
  /** how many ops (without decoding them) */
  length: number;
  notes: (OpNote | null)[];
  /** buffers the ops point at: alive until the stage has run */
  keep: unknown[];
}

/**
 * `asm`'s finished list (every label bound) with `more`; its records are made when first asked
 * for (a streamed jail's went to the stage already), its `ops` decoded from them.
 */
function finished<T extends object>(asm: Asm, more: T): StageProgram & T {
  const notes = asm.opNotes();
  let code: Buffer | undefined, ops: RawOp[] | undefined;
  const records = () => (code ??= asm.bytes(0, notes.length));
  return Object.defineProperties({ length: notes.length, notes, keep: asm.keep, ...more }, {
    code: { enumerable: true, get: records },
    ops: { enumerable: true, get: () => (ops ??= decodeOps(records())) },
  }) as StageProgram & T;
}

export interface JailProgram extends StageProgram {
  /** first op of the program's own process (its failures are the program's, not the setup's) */
  programStart: number;
  /** `into` holds 1 in the parent when clone3 started the init inside the jail cgroup */
  regs: { pid: Reg; cloneErr: Reg; failed: Reg; into: Reg };
  execSlots: ExecSlot[];
}

/**
 * Registers are private to each process (each has its own array), so what the supervisor and
 * the waiter must learn from the program's process is stored into `results`, memory shared with
 * it (a memfd the waiter reads too): [0] = 1 when every execve failed, then per PATH candidate i
 * the errno of its stat at [1 + 2i] (stored at the gate) and of its execve at [2 + 2i] (0: none).
 * Not streamed: the init's whole program, with the supervisor's side (`spawner`) spawning it on
 * these very records.
 */
export function compileJail(given: Plan, cloneFlags: number, fds: JailFds, seccomp: Buffer | null, results: BigInt64Array, entry?: number): JailProgram & { spawner: StageProgram; placer: Placer | null } {
  const jc = startJail(given, cloneFlags, fds, seccomp, results, { entry });
  const p = jc.rest();
  return Object.assign(p, { spawner: jc.spawner(p.code, p.length), placer: jc.placer });
}

/** The placer's own op list (a failure's op index is one of its ops) and its failure report. */
export interface Placer {
  program: StageProgram;
  report: Int32Array;
}

/** A jail compiled in two parts: the init's ops up to its wait for "go", then the rest. */
export interface JailCompiler {
  /** the init's ops up to its wait for "go": ops 0.. of the list it is spawned on */
  prologue: RawOp[];
  /** the prologue's records (a copy), for the stage */
  prologueCode: Buffer;
  /**
   * The supervisor's side, run by the stage in this process: spawn the jail's init (CLONE_VM,
   * on a stack of its own) replaying `code` (up to `capacity` ops, the rest streamed in), then
   * the placer if any; RETURN the init's pid.
   */
  spawner(code: Buffer, capacity: number): StageProgram;
  /** the placer (a root jail on cgroup v1), or null */
  placer: Placer | null;
  /** compile the rest and return the init's whole program (the prologue unchanged at its start) */
  rest(): JailProgram;
  /** the supervisor's registers after `spawner`: the pid, the clone's errno, clone3's success, the placer's pid (-1: none) */
  regs: { pid: Reg; cloneErr: Reg; into: Reg; placer: Reg };
}

/** Ops handed to a streaming stage at once (fewer: more futex wakes; more: a later start). */
const STREAM_BATCH = 48;
/** The init's stack until it executes jailx's init (the stage's frame is a few hundred bytes). */
const INIT_STACK = 64 * 1024, CHILD_STACK = 16 * 1024;

/**
 * The init is spawned with CLONE_VM: it shares this process's memory (no copy of Bun's ~100 MB
 * of mappings, and no copy-on-write fault for every page this process then writes while it
 * compiles the rest: 10–20 µs each on the development VMs, ~800 of them). It replays its own op
 * list on a stack of its own, with registers of its own; everything the ops point at is in this
 * process, kept alive until the init has executed. The program's process is spawned by the init
 * the same way (CLONE_VM, a stack of its own, the init's list from the next op on). The shared
 * memory outlives the supervisor's execve of the waiter (an execve replaces only the caller's
 * memory) and is freed when the last of the three has executed.
 *
 * The prologue can run before the rest is compiled when every buffer the rest points at is in
 * memory shared with the child (`sharedArena`) and the ops are written into shared memory too:
 * the child waits for "go", which comes only once they are there. `placer`: cgroup.procs files
 * a second child of the supervisor (the placer, spawned right after the init, CLONE_VM too)
 * writes the jail's init into (a root jail on cgroup v1): the migration waits for an RCU grace
 * period (~10-15 ms), and this way that wait overlaps both the compiling of the rest and the
 * jail's own setup; the supervisor reaps the placer before it says "placed" (the init forks the
 * program only after).
 */
export function startJail(given: Plan, cloneFlags: number, fds: JailFds, seccomp: Buffer | null, results: BigInt64Array, o: { sharedArena?: Buffer; placer?: readonly string[]; stream?: (from: number, records: Buffer) => void; entry?: number; cpus?: CpuSpread | null } = {}): JailCompiler {
  // child.ts's --verbose step lines would be printed now, while compiling: the supervisor says
  // when those steps happen instead.
  const plan: Plan = { ...given, verbose: false };
  /** the stage's entry, where every spawned child starts */
  const entry = o.entry ?? stageEntry();
  const asm = new Asm(o.sharedArena);
  const base = asm.shared(results);
  const msg = asm.buf(Buffer.alloc(64 * 1024));
  const gate = handOver(asm, fds, base, msg, o.cpus?.every);
  const k = compileKernel(asm, { pinned: [fds.gateR, ...(fds.ranW !== undefined ? [fds.ranW] : [])], gate });
  const failed = asm.reg();
  const exit125 = asm.label();
  const main = asm.label();
  const exit = (code: number) => asm.syscall(NRS.exit_group, [code], { syscall: "exit_group" });
  /** one message from the supervisor; EOF means it is gone */
  const receive = () => asm.syscall(NRS.read, [fds.sock, msg, 64 * 1024], { syscall: "read", path: "the supervisor's message", cond: "eq", cmp: 0, jumpTo: exit125 });

  // PID 1 of the jail. First, nothing of the supervisor's: with a copy of its end of the socket
  // we would never see EOF if it died before our parent-death signal was set (it can, while
  // this process waits to be scheduled), and would wait for "go" forever.
  k.closeFdsExcept([fds.sock, fds.execW, fds.heldR, fds.heldW, fds.helper, ...plan.passFds].filter((fd) => fd >= 0));
  k.setParentDeathSignal(SIGKILL);
  // A supervisor that died before that (while this process waited to be scheduled) sends no
  // signal; it may have sent "go" first, which a read would still return, and then the ops
  // that never come would be waited for: its end of the socket is closed then (POLLRDHUP).
  const peer = new Int32Array([fds.sock, POLLRDHUP]); // struct pollfd: fd, events (revents 0)
  // Off the supervisor's CPU while the jail is built (sys/cpus.ts): woken there at each batch of
  // streamed ops, the init would preempt the compile. Where it cannot, it builds where it is.
  if (o.cpus) asm.syscall(NRS.sched_setaffinity, [0, o.cpus.away.length, asm.buf(o.cpus.away)], { syscall: "sched_setaffinity", flags: "off the supervisor's CPU", ok: [-1] });
  const peerAt = asm.buf(peer);
  asm.syscall(NRS.ppoll, [peerAt, 1, asm.buf(new BigInt64Array(2)), 0, 8], { syscall: "ppoll", path: "the supervisor's socket", cond: "ne", cmp: 0, jumpTo: exit125 });
  // That check is not enough where another process still holds a copy of the supervisor's end
  // (the cgroup placer, cloned after us, until its first op): "go" is read, and the wait for ops
  // that never come would not end. So each wait for streamed ops looks at the socket again
  // (every 50 ms), and ends this process (EPIPE) once nobody holds the other end; a read of
  // "placed" ends at EOF then too.
  asm.watch(peerAt);
  receive(); // "go": the id maps are written; the rest of the ops are streamed in
  asm.jump(main);
  asm.bind(exit125);
  exit(125);
  asm.bind(main);
  const initStack = new Uint8Array(INIT_STACK), programStack = new Uint8Array(INIT_STACK);
  const programRegs = new BigInt64Array(REGISTERS);
  asm.keep.push(initStack, programStack, programRegs);
  const placer = o.placer?.length ? compilePlacer(o.placer) : null;
  const pa = new Asm();
  const pid = pa.reg(), cloneErr = pa.reg(), into = pa.reg(), placerPid = pa.reg();
  const spawner = (code: Buffer, capacity: number): StageProgram => {
    const childRegs = new BigInt64Array(REGISTERS);
    const refused = pa.label(); // the init's clone refused
    const top = stackTop(initStack);
    const target = [ptr(code), capacity, ptr(childRegs), entry] as const;
    pa.set(pid, -1);
    pa.set(placerPid, -1);
    pa.set(into, 0);
    // No signal handler of Bun's may run in a child that shares this memory: every signal is
    // blocked around the spawns (the children keep the mask; jailx's init and the program's
    // process set theirs).
    const all = pa.buf(new BigUint64Array([0xffffffffffffffffn]));
    const old = pa.buf(new BigUint64Array(1));
    pa.syscall(NRS.rt_sigprocmask, [SIG_SETMASK, all, old, 8], { syscall: "rt_sigprocmask" });
    const flags = cloneFlags | CLONE_VM | SIGCHLD;
    const plain = pa.label();
    if ((fds.cgroupFd ?? -1) >= 0) {
      // struct clone_args (v2, 88 bytes): flags, pidfd, child_tid, parent_tid, exit_signal,
      // stack, stack_size, tls, set_tid, set_tid_size, cgroup. Where clone3 or CLONE_INTO_CGROUP
      // is refused (before 5.7, …) the plain clone below runs and the supervisor migrates.
      const args = new BigUint64Array(11);
      args[0] = BigInt(cloneFlags | CLONE_VM) | CLONE_INTO_CGROUP;
      args[4] = BigInt(SIGCHLD);
      args[5] = BigInt(ptr(initStack));
      args[6] = BigInt(top - ptr(initStack));
      args[10] = BigInt(fds.cgroupFd!);
      const spawned = pa.label();
      pa.set(into, 1);
      pa.spawn([pa.buf(args), 88, ...target], { syscall: "clone3", flags: "CLONE_VM|CLONE_INTO_CGROUP", dst: pid, ok: [-1], skipTo: plain }, NRS.clone3);
      pa.jump(spawned);
      pa.bind(plain);
      pa.set(into, 0);
      pa.spawn([flags, top, ...target], { syscall: "clone", flags: `0x${flags.toString(16)}`, dst: pid, ok: [-1], errdst: cloneErr, skipTo: refused });
      pa.bind(spawned);
    } else pa.spawn([flags, top, ...target], { syscall: "clone", flags: `0x${flags.toString(16)}`, dst: pid, ok: [-1], errdst: cloneErr, skipTo: refused });
    if (placer) {
      // The jail's init spawned: spawn the placer, which writes these digits (up to the NUL,
      // which the kernel strips with the rest) into cgroup.procs; its failure is its own.
      pa.itoa(placer.digits, pid);
      const regs = new BigInt64Array(REGISTERS);
      // Its failure goes to a report of its own (cmp), not the jail's: that one is the init's,
      // and counts the init's streamed ops, which the placer's list is not.
      pa.spawn([CLONE_VM | SIGCHLD, stackTop(placer.stack), ptr(placer.program.code), placer.program.length, ptr(regs), entry], { syscall: "clone", flags: "CLONE_VM (the cgroup placer)", dst: placerPid, ok: [-1], skipTo: refused, cmp: ptr(placer.report) });
      pa.keep.push(regs, placer.program.code, placer.program.keep, placer.report);
    }
    pa.bind(refused);
    pa.syscall(NRS.rt_sigprocmask, [SIG_SETMASK, old, 0, 8], { syscall: "rt_sigprocmask" });
    pa.ret(pid);
    pa.keep.push(code, childRegs, asm.keep);
    return finished(pa, {});
  };
  const prologueCode = Buffer.from(asm.bytes(0, asm.length));
  // Streaming: every STREAM_BATCH ops whose jumps are all known go to the stage at once.
  let sent = asm.length;
  const flush = (upTo: number) => {
    if (upTo > sent) o.stream!(sent, asm.bytes(sent, upTo));
    sent = Math.max(sent, upTo);
  };
  const rest = (): JailProgram => {
    if (o.stream) asm.onEmit = () => asm.length - sent >= STREAM_BATCH && flush(asm.ready());
    try {
      return compileRest();
    } finally {
      asm.onEmit = null;
    }
  };
  const compileRest = (): JailProgram => {
    setupNamespace(plan, k, receive); // "placed": in the jail cgroup
    let programStart: number;
    if (plan.asPid1) {
      programStart = asm.length;
      becomeProgram(plan, k, fds.execW, seccomp);
    } else {
      // Non-dumpable before the fork: the program never sees a dumpable init.
      asm.syscall(NRS.prctl, [PR_SET_DUMPABLE, 0, 0, 0, 0], { syscall: "prctl", flags: "PR_SET_DUMPABLE" });
      const child = asm.reg();
      const program = asm.label();
      // The program's process: a fork's view (this list, a copy of the registers) on a stack of
      // its own, still without a copy of the supervisor's memory (CLONE_VM), which a fork here
      // would write-protect page by page while the supervisor runs. It is spawned after
      // "placed", when every op has been written.
      asm.spawn([CLONE_VM | SIGCHLD, stackTop(programStack), 0, 0, ptr(programRegs), entry], { syscall: "clone", flags: "CLONE_VM (the program's process)", dst: child, jumpTo: program });
      // PID 1 goes on as jailx's init, with nothing more than the program has.
      const pidArg = Buffer.alloc(32);
      pidArg.write("pid=");
      const pidAt = asm.buf(pidArg); // the stage writes the digits into this copy
      asm.itoa(pidAt + 4n, child);
      if (o.cpus) everyCpu(asm, o.cpus.every);
      k.closeFdsExcept([fds.sock, fds.heldW, fds.helper]);
      k.attempt(["*"], () => dropPrivileges(plan, k, [], []), () => {}, () => {});
      k.setDumpable(false);
      k.setParentDeathSignal(SIGKILL);
      asm.syscall(NRS.fcntl, [fds.sock, F_SETFD, 0], { syscall: "fcntl", flags: "the supervisor's socket" });
      asm.syscall(NRS.fcntl, [fds.heldW, F_SETFD, 0], { syscall: "fcntl", flags: "the release pipe" });
      // argv of init; its pid=N entry is written at run time (ITOA above).
      // --forking/--pid-file: init follows the daemon the program leaves (jail/daemon.ts's rules)
      const words = ["jailx-init", "init", `sock=${fds.sock}`, `release=${fds.heldW}`, `session=${plan.newSession ? 1 : 0}`,
        ...(plan.forking ? ["forking=1", ...(plan.forking.pidFile ? [`pidfile=${plan.forking.pidFile}`] : [])] : [])];
      const argv = new BigInt64Array(words.length + 2);
      words.forEach((a, i) => (argv[i] = asm.str(a)));
      argv[words.length] = pidAt;
      asm.syscall(NRS.execveat, [fds.helper, asm.str(""), asm.buf(argv), asm.strArray([]), AT_EMPTY_PATH], { syscall: "execveat", path: "jailx's init (sealed memfd)" });
      exit(125);

      asm.bind(program);
      programStart = asm.length;
      asm.syscall(NRS.close, [fds.heldW], { syscall: "close" });
      const again = asm.label();
      asm.bind(again);
      asm.syscall(NRS.read, [fds.heldR, msg, 64], { syscall: "read", path: "the release pipe", cond: "gt", cmp: 0, jumpTo: again, ok: [-1] });
      asm.syscall(NRS.close, [fds.heldR], { syscall: "close" });
      becomeProgram(plan, k, fds.execW, seccomp);
    }
    // Every execve failed: the waiter reads why from the results.
    execFailed(asm, k, base, failed);
    if (o.stream) flush(asm.length);
    return finished(asm, { programStart, regs: { pid, cloneErr, failed, into }, execSlots: k.execSlots });
  };
  let prologue: RawOp[] | undefined;
  return {
    get prologue() {
      return (prologue ??= decodeOps(prologueCode));
    },
    prologueCode, rest, spawner, regs: { pid, cloneErr, into, placer: placerPid },
    placer: placer && { program: placer.program, report: placer.report },
  };
}

/**
 * The placer's ops: nothing of the supervisor's (the jail's init must see EOF when the
 * supervisor is gone), then the init's pid — digits the supervisor's side writes at `digits`
 * before spawning it — into each cgroup.procs file, and exit 0.
 */
function compilePlacer(files: readonly string[]): Placer & { digits: bigint; stack: Uint8Array } {
  const p = new Asm();
  const digits = p.buf(Buffer.alloc(24));
  p.syscall(NRS.close_range, [3, 0xffffffff, 0], { syscall: "close_range" });
  for (const procs of files) {
    const f = p.reg();
    p.syscall(NRS.openat, [-100, p.str(procs), 1 | 0o2000000 /* O_WRONLY|O_CLOEXEC */, 0], { syscall: "open", path: procs, dst: f });
    p.syscall(NRS.write, [f, digits, 20], { syscall: "write", path: procs, flags: "the jail's init", hints: { EBUSY: "could not move the jail's init into its cgroup" } });
    p.syscall(NRS.close, [f], { syscall: "close" });
  }
  p.syscall(NRS.exit_group, [0], { syscall: "exit_group" });
  const stack = new Uint8Array(CHILD_STACK);
  p.keep.push(stack);
  return { program: finished(p, {}), report: new Int32Array(4), digits, stack };
}

/**
 * The hand-over: the program's process has done everything but the filter and execve. It stores
 * what its PATH lookups found, closes its end of the exec pipe (the supervisor then knows the
 * setup went through) and waits until the waiter closes the gate.
 */
function handOver(asm: Asm, fds: { execW: number; gateR: number }, base: bigint, msg: bigint, every?: Uint8Array): (slots: readonly ExecSlot[]) => void {
  return (slots) => {
    slots.forEach((s, i) => asm.store64(base + BigInt(8 * (1 + 2 * i)), s.stat));
    asm.syscall(NRS.close, [fds.execW], { syscall: "close" });
    const again = asm.label();
    asm.bind(again);
    asm.syscall(NRS.read, [fds.gateR, msg, 64], { syscall: "read", path: "the gate", cond: "gt", cmp: 0, jumpTo: again, ok: [-1] });
    asm.syscall(NRS.close, [fds.gateR], { syscall: "close" });
    if (every) everyCpu(asm, every);
  };
}

/** Every CPU again (sys/cpus.ts): the affinity of a task nobody restricted. */
function everyCpu(asm: Asm, every: Uint8Array): void {
  asm.syscall(NRS.sched_setaffinity, [0, every.length, asm.buf(every)], { syscall: "sched_setaffinity", flags: "every CPU" });
}

/** What every execve of the program's process found, for the waiter; then exit_group. */
function execFailed(asm: Asm, k: ReturnType<typeof compileKernel>, base: bigint, failed: Reg): void {
  // Plain stores: after the seccomp filter nothing but execve and exit_group is called.
  k.execSlots.forEach((s, i) => asm.store64(base + BigInt(8 * (2 + 2 * i)), s.exec));
  asm.set(failed, 1);
  asm.store64(base, failed);
  asm.syscall(NRS.exit_group, [127], { syscall: "exit_group" });
}

/** Where a joining process's grandchild pid is stored in the results (see compileJoin). */
export const JOIN_PID_SLOT = 500;

export interface JoinFds {
  /** a pidfd of the jail's program: setns(pidfd, flags) joins its namespaces at once */
  pidfd: number;
  /** O_PATH descriptor of the program's root (/proc/PID/root, opened from the host) */
  rootFd: number;
  sock: number;
  execW: number;
  gateR: number;
}

/**
 * `jailx exec` through the stage: fork; the child joins the jail's namespaces (setns on a pidfd:
 * a user namespace needs a single-threaded caller, which the child is) and forks the new process
 * with CLONE_PARENT, so that it is in the jail's pid namespace and the supervisor's child; the
 * child stores its pid in the results and exits. The new process waits for "go" (it is in the
 * jail's cgroup then), enters the jail's root and becomes the program (becomeProgram, with the
 * jail's plan), through the same gate and hand-over as `run`.
 */
export function compileJoin(plan: Plan, nsFlags: number, fds: JoinFds, seccomp: Buffer | null, results: BigInt64Array): JailProgram {
  const asm = new Asm();
  const base = asm.shared(results);
  const msg = asm.buf(Buffer.alloc(4096));
  const k = compileKernel(asm, { pinned: [fds.gateR], gate: handOver(asm, fds, base, msg), nonDumpable: true });
  const pid = asm.reg(), cloneErr = asm.reg(), failed = asm.reg(), into = asm.reg(), grandchild = asm.reg();
  const ret = asm.label();
  const exit125 = asm.label();
  const joined = asm.label();
  asm.set(pid, -1);
  asm.set(into, 0);
  asm.syscall(NRS.clone, [SIGCHLD, 0, 0, 0, 0], { syscall: "fork", dst: pid, cond: "ne", cmp: 0, jumpTo: ret, ok: [-1], errdst: cloneErr, skipTo: ret });
  // The first child: only what the new process needs (not the supervisor's end of the socket: its
  // death must show as EOF); nothing in the jail may ptrace it while it holds host descriptors.
  k.closeFdsExcept([fds.pidfd, fds.rootFd, fds.sock, fds.execW, ...plan.passFds]);
  asm.syscall(NRS.prctl, [PR_SET_DUMPABLE, 0, 0, 0, 0], { syscall: "prctl", flags: "PR_SET_DUMPABLE" });
  k.setParentDeathSignal(SIGKILL);
  asm.syscall(NRS.setns, [fds.pidfd, nsFlags], { syscall: "setns", flags: `0x${nsFlags.toString(16)}` });
  asm.syscall(NRS.clone, [CLONE_PARENT | SIGCHLD, 0, 0, 0, 0], { syscall: "fork", flags: "CLONE_PARENT", dst: grandchild, cond: "eq", cmp: 0, jumpTo: joined });
  asm.store64(base + BigInt(8 * JOIN_PID_SLOT), grandchild);
  asm.syscall(NRS.exit_group, [0], { syscall: "exit_group" });
  // The new process, in the jail's namespaces.
  asm.bind(joined);
  k.setParentDeathSignal(SIGKILL);
  asm.syscall(NRS.read, [fds.sock, msg, 4096], { syscall: "read", path: "the supervisor's message", cond: "eq", cmp: 0, jumpTo: exit125 });
  asm.syscall(NRS.fchdir, [fds.rootFd], { syscall: "fchdir", path: "the jail's root" });
  asm.syscall(NRS.chroot, [asm.str(".")], { syscall: "chroot", path: "the jail's root" });
  asm.syscall(NRS.close, [fds.rootFd], { syscall: "close" });
  const programStart = asm.length;
  becomeProgram({ ...plan, verbose: false }, k, fds.execW, seccomp);
  execFailed(asm, k, base, failed);
  asm.bind(exit125);
  asm.syscall(NRS.exit_group, [125], { syscall: "exit_group" });
  asm.bind(ret);
  asm.ret(pid);
  return finished(asm, { programStart, regs: { pid, cloneErr, failed, into }, execSlots: k.execSlots });
}

/**
 * A helper process (guard, walk, log writer, an id-map tool) started from this multi-threaded
 * process: a SPAWN and execveat in the stage, so that no JavaScript runs in the child. `keep`
 * are the fds it inherits.
 */
export function compileSpawn(helper: number, argv: readonly string[], keep: readonly number[]): StageProgram & { regs: { pid: Reg; err: Reg } } {
  // The child: nothing but `keep` (made inheritable) and the helper, then execveat.
  const child = new Asm();
  const k = compileKernel(child);
  k.closeFdsExcept([...keep, helper]);
  for (const fd of keep) child.syscall(NRS.fcntl, [fd, F_SETFD, 0], { syscall: "fcntl" });
  child.syscall(NRS.execveat, [helper, child.str(""), child.strArray(argv), child.strArray([]), AT_EMPTY_PATH], { syscall: "execveat", path: "jailx's helper" });
  child.syscall(NRS.exit_group, [125], { syscall: "exit_group" });
  // No CLONE_VFORK: this thread goes on while the child executes. Waiting for that cost ~0.06 ms
  // on an idle machine, and 1–6 ms whenever the child first had to wait for a busy CPU (seen
  // with strace -T here while another process used a core).
  return spawning(child);
}

/**
 * A process that moves itself into a cgroup v1 hierarchy's `procs` file and exits: the first
 * migration after an idle spell waits for an RCU grace period (the kernel's threadgroup lock is
 * taken in its slow mode; 5–25 ms on the development machines), and migrations that follow while
 * it is still in that mode do not. Started right after the jail cgroup is made, it takes that
 * wait in parallel with the clone and the compile, instead of the placer after the clone.
 * Whatever fails, it exits 0: it only warms a lock.
 */
export function compileWarmup(procs: string): StageProgram & { regs: { pid: Reg } } {
  const child = new Asm();
  child.syscall(NRS.close_range, [3, 0x7fffffff, 0], { syscall: "close_range", ok: [-1] });
  const fd = child.reg();
  child.set(fd, -1);
  child.syscall(NRS.openat, [-100, child.str(procs), 1 | 0o2000000 /* O_WRONLY|O_CLOEXEC */, 0], { syscall: "open", path: procs, dst: fd, ok: [-1] });
  child.syscall(NRS.write, [fd, child.str("0"), 1], { syscall: "write", path: procs, ok: [-1] }); // "0": the writer itself
  child.syscall(NRS.exit_group, [0], { syscall: "exit_group" });
  return spawning(child);
}

/**
 * The last holder of this process's memory, which the jail's init and the program's process
 * share (CLONE_VM) until they execute: it reads `fd` (the read end of the pipe whose write end
 * closes when the program's process executes or ends) and exits at its EOF. Whoever drops the
 * last reference to a memory tears it down (~1 ms for Bun's); without a holder that is the
 * program's own execve, between the gate and the program's start, and with one it is this
 * child, beside the program. It holds no descriptor but `fd`.
 */
export function compileHolder(fd: number, home?: Uint8Array): StageProgram & { regs: { pid: Reg } } {
  const child = new Asm();
  if (home) child.syscall(NRS.sched_setaffinity, [0, home.length, child.buf(home)], { syscall: "sched_setaffinity", flags: "the supervisor's CPU", ok: [-1] });
  child.syscall(NRS.close_range, [0, fd - 1, 0], { syscall: "close_range", ok: [-1] });
  child.syscall(NRS.close_range, [fd + 1, 0x7fffffff, 0], { syscall: "close_range", ok: [-1] });
  const again = child.label();
  child.bind(again);
  child.syscall(NRS.read, [fd, child.buf(new Uint8Array(8)), 8], { syscall: "read", path: "the program's exec pipe", ok: [-1], cond: "gt", cmp: 0, jumpTo: again });
  child.syscall(NRS.exit_group, [0], { syscall: "exit_group" });
  return spawning(child);
}

/**
 * The parent's side of a spawn: clone(CLONE_VM) — no copy of this large process — whose child
 * replays `child`'s ops on a stack of its own, in `keep` with them: the caller holds them until
 * the child has executed or exited (parent-kernel.ts's startChild), which this thread does not
 * wait for. Every signal is blocked in this thread around the clone: no handler of Bun's may run
 * in the child, which shares this address space and keeps the mask.
 */
function spawning(child: Asm): StageProgram & { regs: { pid: Reg; err: Reg } } {
  const stack = new Uint8Array(CHILD_STACK);
  const childOps = child.length;
  const code = child.bytes(0, childOps);
  const childRegs = new BigInt64Array(REGISTERS);
  const asm = new Asm();
  const pid = asm.reg();
  const err = asm.reg();
  const restore = asm.label();
  const all = asm.buf(new BigUint64Array([0xffffffffffffffffn]));
  const old = asm.buf(new BigUint64Array(1)); // written by the stage, read back by it
  asm.set(pid, -1);
  asm.syscall(NRS.rt_sigprocmask, [SIG_SETMASK, all, old, 8], { syscall: "rt_sigprocmask" });
  asm.spawn([CLONE_VM | SIGCHLD, stackTop(stack), ptr(code), childOps, ptr(childRegs), stageEntry()], { syscall: "clone", flags: "CLONE_VM", dst: pid, ok: [-1], errdst: err, skipTo: restore });
  asm.bind(restore);
  asm.syscall(NRS.rt_sigprocmask, [SIG_SETMASK, old, 0, 8], { syscall: "rt_sigprocmask" });
  asm.ret(pid);
  asm.keep.push(...child.keep, code, childRegs, stack);
  return finished(asm, { regs: { pid, err } });
}

/**
 * The op list a run would replay, one line per op with what it is for (`run --dry-run --verbose`).
 * Descriptor numbers and addresses are this process's, not a real run's.
 */
export async function describeJail(plan: Plan, cloneFlags: number, seccomp: Buffer | null): Promise<string> {
  const { formatOps } = await import("./ops.ts");
  const fds = { sock: 3, execW: 4, heldR: 5, heldW: 6, helper: 7, gateR: 8 };
  // The stage's entry address shown as 0: a dry run does not load the stage.
  const p = compileJail(plan, cloneFlags, fds, seccomp, new BigInt64Array(64), 0);
  const note = (n: OpNote | null | undefined) => (n ? `  # ${[n.syscall, n.path, n.flags].filter(Boolean).join(" ")}` : "");
  const listing = async (q: StageProgram) => (await formatOps(q.ops)).split("\n").map((l, i) => l + note(q.notes[i]));
  return [
    `# the supervisor: ${p.spawner.length} operations (spawn the jail's init${p.placer ? ", then the cgroup placer" : ""})`,
    ...(await listing(p.spawner)),
    `# the jail's init: ${p.length} operations (fds: message socket ${fds.sock}, exec pipe ${fds.execW}, release pipe ${fds.heldR}/${fds.heldW}, helper ${fds.helper}, gate ${fds.gateR}); the program's process starts at ${p.programStart}`,
    ...(await listing(p)),
  ].join("\n") + "\n";
}
