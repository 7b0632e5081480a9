// The embedded stage (jail/stage/stage.c), called in-process, and the helper executable
// (jail/stage/helper.c) in a sealed memfd. Both are compiled at build time
// (scripts/build-stage.ts) and embedded as base64 in jail/stage/blobs.gen.ts.
//
// The stage is plain position-independent machine code with its entry at offset 0: mapped
// read-write, filled, then made read+exec (never writable and executable at once), and called
// through bun:ffi. On arm64 the kernel makes the instruction cache coherent when an anonymous
// page first becomes executable, and the page is never written again.
import { readFileSync } from "node:fs";
import { BLOBS, type ArchBlobs } from "../jail/stage/blobs.gen.ts";
import { CFunction, c, errno, ptr, toArrayBuffer, type Pointer } from "./ffi.ts";
import { errnoName } from "./errno.ts";
import { SysError } from "./errors.ts";
import { sealedMemfd } from "./memfd.ts";
import { syscall } from "./ffi.ts";
import { NR } from "./nr.ts";
import { sharedMemory } from "./proc.ts";

/** Registers the ops address by index (jail/stage/ops.ts); the VM refuses any index ≥ this. */
export const STAGE_REGISTERS = 256;
/** report[0] once the stage has recorded a failure: "stag". report[1] = op index, report[2] = errno. */
export const REPORT_MAGIC = 0x73746167;
/** Size of one op record in bytes (jail/stage/ops.ts). */
const OP_SIZE = 112;

const PROT_READ = 1, PROT_WRITE = 2, PROT_EXEC = 4;
const MAP_PRIVATE = 2, MAP_ANONYMOUS = 0x20;

function blobs(): ArchBlobs | undefined {
  return (BLOBS as Partial<Record<string, ArchBlobs>>)[process.arch];
}

/** True when this binary carries a stage for this CPU. */
export function stageAvailable(): boolean {
  return !!blobs();
}

const NO_OPS = Buffer.alloc(8);
/** jail/stage/stage.c's flag in the entry's `start`: the list run is complete, wait for no streamed op */
const NO_STREAM = 2 ** 40;
type StageFn = (ops: Pointer, n: bigint | number, regs: Pointer, report: Pointer, start: bigint | number) => bigint;
let entry: StageFn | undefined;
let entryAddress = 0;

function loadStage(): StageFn {
  if (entry) return entry;
  const b64 = blobs()?.stage;
  if (!b64) throw new SysError("stage", "ENOEXEC", 8, undefined, undefined, `this jailx has no stage for ${process.arch} (rebuild with scripts/build.ts)`);
  const code = Buffer.from(b64, "base64");
  const p = c.mmap(null, code.length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) as unknown as number;
  if (!p || p === -1) throw new SysError("mmap", errnoName(errno()), errno(), undefined, `the stage, ${code.length} bytes`);
  new Uint8Array(toArrayBuffer(p as Pointer, 0, code.length)).set(code);
  if (c.mprotect(p as Pointer, code.length, PROT_READ | PROT_EXEC) !== 0)
    throw new SysError("mprotect", errnoName(errno()), errno(), undefined, "PROT_READ|PROT_EXEC");
  entry = CFunction({ ptr: p as Pointer, args: ["ptr", "i64", "ptr", "ptr", "i64"], returns: "i64" }) as unknown as StageFn;
  entryAddress = p;
  return entry;
}

/** For SPAWN ops (jail/stage/ops.ts): the stage's entry address, where a spawned child starts. */
export function stageEntry(): number {
  loadStage();
  return entryAddress;
}

/** For SPAWN ops: the top of `stack` for the child, 16-byte aligned 64 bytes below its end (both ABIs want that at a call). */
export function stackTop(stack: Uint8Array): number {
  const top = ptr(stack) + stack.byteLength - 64;
  return top - (top % 16);
}

/**
 * Run `n` ops of `ops` (encodeOps) with the registers `regs` (≥ 256 slots) and the failure report
 * `report` (≥ 3 slots, zeroed; MAP_SHARED so that a cloned child's report reaches us). Returns
 * what a RETURN op returned, or -1 when the program ran off its end. A failure the ops do not
 * tolerate never returns: the process that met it fills the report and exits.
 */
export function runStage(ops: Buffer, n: number, regs: BigInt64Array, report: Int32Array): number {
  if (!Number.isInteger(n) || n < 0 || ops.length < n * OP_SIZE) throw new RangeError(`runStage: ${n} ops do not fit in ${ops.length} bytes`);
  if (regs.length < STAGE_REGISTERS) throw new RangeError(`runStage: ${regs.length} registers, the stage addresses ${STAGE_REGISTERS}`);
  if (report.length < 3) throw new RangeError("runStage: the report needs 3 slots");
  const run = loadStage();
  // bun:ffi gives no pointer for an empty buffer; with n = 0 the stage reads no op anyway.
  // NO_STREAM: the list run here is complete; only the children it spawns may wait for streamed
  // ops (the supervisor's spawner hands the jail's init the report that counts them).
  return Number(run(ptr(ops.length ? ops : NO_OPS), n, ptr(regs), ptr(report), NO_STREAM));
}

const SA_SIGINFO = 4, SA_RESTART = 0x10000000, SA_RESTORER = 0x04000000;

/**
 * Make `signals` (blocked in the calling, main thread) reach the main thread even when one of
 * Bun's other threads takes them: their handler becomes the stage itself, which re-sends them to
 * the main thread with tgkill (jail/stage/stage.c). They stay pending there until the waiter,
 * executed from this thread, reads them: none is lost, and none kills the supervisor by its
 * default action, in the hand-over. x86_64 needs a restorer (rt_sigreturn) with every handler:
 * the C library's, taken from the handler Bun installed for SIGSEGV.
 */
export function forwardToMainThread(signals: readonly number[]): void {
  loadStage();
  const old = new BigUint64Array(4);
  let flags = BigInt(SA_SIGINFO | SA_RESTART);
  let restorer = 0n;
  if (process.arch === "x64") {
    syscall(NR.rt_sigaction, 11, 0, ptr(old), 8);
    if ((old[1]! & BigInt(SA_RESTORER)) === 0n || old[2] === 0n) throw new SysError("rt_sigaction", "EINVAL", 22, undefined, undefined, "no signal restorer to borrow (SIGSEGV has no handler)");
    flags |= BigInt(SA_RESTORER);
    restorer = old[2]!;
  }
  const act = new BigUint64Array([BigInt(entryAddress), flags, restorer, 0xffffffffffffffffn]);
  for (const s of signals)
    if (syscall(NR.rt_sigaction, s, ptr(act), 0, 8) < 0n) throw new SysError("rt_sigaction", errnoName(errno()), errno(), undefined, `signal ${s}`);
}

/**
 * 256 registers in MAP_SHARED memory: what a cloned child stores there, the parent sees. Beware:
 * a `clone` op's `dst` is then written by both processes (the pid by one, 0 by the other) in the
 * same slot, in either order. With shared registers give the clone no dst and let the kernel
 * store the pid: CLONE_PARENT_SETTID with parent_tid = the address of a register the child never
 * writes (on the real kernel that store happens before the child runs; qemu-user makes it from
 * the child, late). Private registers (a plain BigInt64Array) have no such race: the child
 * writes its own copy.
 */
export function stageRegisters(): BigInt64Array {
  return new BigInt64Array(sharedMemory(STAGE_REGISTERS * 8));
}

/** A zeroed failure report in MAP_SHARED memory: 0..2 the failure, 3 the streamed op count. */
export function stageReport(): Int32Array {
  return new Int32Array(sharedMemory(16));
}

/**
 * Streaming: tells the stages running with this `report` (in MAP_SHARED memory) that the first
 * `n` ops of their program are written; each waits (futex) at an op it does not have yet.
 * Until this is first called, report[3] is 0 and nothing waits.
 */
export function publishOps(report: Int32Array, n: number): void {
  Atomics.store(report, 3, n);
  syscall(NR.futex, ptr(report) + 12, 1 /* FUTEX_WAKE */, 0x7fffffff);
}

/** The failure recorded in `report`, or null when none was. */
export function readReport(report: Int32Array): { index: number; errno: number } | null {
  return report[0] === REPORT_MAGIC ? { index: report[1]!, errno: report[2]! } : null;
}

let usable: boolean | undefined;
/**
 * Whether `jailx run` can take the stage path here: this binary carries the stage and the
 * helper for this CPU, and memfds may be executed (`vm.memfd_noexec` 2, per pid namespace
 * since Linux 6.3, refuses it; the run then takes the Bun path).
 */
export function stageUsable(): boolean {
  return (usable ??= stageUsableNow());
}
function stageUsableNow(): boolean {
  if (!stageAvailable() || !helperAvailable()) return false;
  try {
    return readFileSync("/proc/sys/vm/memfd_noexec", "latin1").trim() !== "2";
  } catch {
    return true; // before 6.3: no such setting
  }
}

/** True when this binary carries the helper executable for this CPU. */
export function helperAvailable(): boolean {
  return !!blobs()?.helper;
}

let helperFd: number | undefined;
/**
 * A memfd holding the helper executable, sealed against writing, growing, shrinking and further
 * sealing (a jailed process that reaches it through /proc cannot change what the next init or
 * waiter runs: CVE-2019-5736), close-on-exec. One per process; callers that hand it on clear
 * FD_CLOEXEC on a dup or in the child.
 */
export function helperMemfd(): number {
  if (helperFd !== undefined) return helperFd;
  const b64 = blobs()?.helper;
  if (!b64) throw new SysError("memfd_create", "ENOEXEC", 8, undefined, undefined, `this jailx has no helper for ${process.arch} (rebuild with scripts/build.ts)`);
  helperFd = sealedMemfd("jailx-helper", Buffer.from(b64, "base64"), true);
  return helperFd;
}
