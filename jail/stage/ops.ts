// The stage's operation records (jail/stage/stage.c, struct op): 112 bytes each, little-endian,
// 8-aligned. TypeScript decides every syscall and what its failure means; these records carry
// those decisions to the stage, which replays them where JavaScript cannot run (after clone).
//
// Offsets: kind 0, nr 4, regmask 8, dst 12, a[6] 16..63, ok[4] 64..79, errdst 80, skip 84,
// cond 88, jump 92, cmp 96, failexit 104, pad 108.
import { errnoName } from "../../sys/errno.ts";

export const OP_SIZE = 112;

/**
 * What op i does (next = i + 1 unless said otherwise):
 * - SYSCALL: r = syscall nr(a…). Failure (-4095 ≤ r ≤ -1): regs[errdst] = errno; an errno in `ok`
 *   (or ok -1: any) → next = i + 1 + skip; any other → report {i, errno} (if the report is still
 *   empty) and exit_group(failexit || 125). Success: regs[dst] = r; if r `cond` cmp holds, next =
 *   i + 1 + jump.
 * - RETURN: return regs[a[0]] to the caller (the parent after clone).
 * - STORE32 / STORE64: *(int32|int64 *)a[0] = regs[a[1]]. ITOA: regs[a[1]] in decimal with a
 *   NUL at a[0] (≥ 24 bytes).
 * - JUMP: next = i + 1 + jump. SET: regs[dst] = a[0].
 * - SPAWN: like SYSCALL, r = clone(a[0]) onto the stack whose top is a[1] — or, when nr is set,
 *   that syscall (clone3) with a[0] = its clone_args, which name the stack, and a[1] = their
 *   size — where the child runs the op list at a[2] (a[3] ops) with the registers at a[4],
 *   calling the stage's entry at a[5]; it reports into the report at cmp when that is set (no
 *   condition then), else into this one. With CLONE_VM: no copy of this process.
 *   a[2] = 0: the child goes on in this list at i + 1 + jump (not a condition's jump: the
 *   parent goes on at i + 1) with a copy of these registers at a[4] — a fork's view without a
 *   copy of the memory; its op indexes (a failure's report) are this list's.
 * Reaching op n returns -1; a register index outside 0..255, a next outside 0..n or an unknown
 * kind/cond reports EINVAL at op i and exits 125 (checkOps finds these before running).
 */
export const KIND = { SYSCALL: 0, RETURN: 1, STORE32: 2, STORE64: 3, ITOA: 4, JUMP: 5, SET: 6, SPAWN: 7 } as const;
export type Kind = (typeof KIND)[keyof typeof KIND];

/** SYSCALL on success: compare the result r with `cmp`; when it holds, next = i + 1 + jump. */
export const COND = { NONE: 0, EQ: 1, NE: 2, GT: 3, LT: 4 } as const;

/** `dst`/`errdst` meaning "no register". */
export const NO_REG = -1;
/** An `ok` entry that tolerates every errno. */
export const ANY_ERRNO = -1;
/** What the stage exits with on an untolerated failure when `failexit` is 0. */
export const DEFAULT_FAILEXIT = 125;

/**
 * One record, field for field. a[j] is an immediate (or an address) unless bit j of `regmask`
 * is set, in which case it is a register index (0..255) and the register's value is used. That
 * applies to SYSCALL arguments, to a[0] (the address) of STORE32/STORE64/ITOA and to a[0] of SET
 * (a register copy). RETURN's a[0] and STORE/ITOA's a[1] are always register indexes.
 */
export interface RawOp {
  kind: Kind;
  nr: number;
  regmask: number;
  dst: number;
  a: bigint[];
  ok: number[];
  errdst: number;
  skip: number;
  cond: number;
  jump: number;
  cmp: bigint;
  failexit: number;
}

/** The fields one wants to set; the rest take their neutral values (no register, no condition…). */
export type OpInit = Partial<Omit<RawOp, "a" | "cmp">> & { kind: Kind; a?: (number | bigint)[]; cmp?: number | bigint };

export function rawOp(init: OpInit): RawOp {
  const a = init.a ?? [];
  const ok = init.ok ?? [];
  if (a.length > 6 || ok.length > 4) throw new RangeError(`an op has 6 arguments and 4 tolerated errnos, not ${a.length} and ${ok.length}`);
  return {
    kind: init.kind, nr: init.nr ?? 0, regmask: init.regmask ?? 0, dst: init.dst ?? NO_REG,
    a: Array.from({ length: 6 }, (_, j) => BigInt(a[j] ?? 0)),
    ok: Array.from({ length: 4 }, (_, j) => ok[j] ?? 0),
    errdst: init.errdst ?? NO_REG, skip: init.skip ?? 0, cond: init.cond ?? COND.NONE, jump: init.jump ?? 0,
    cmp: BigInt(init.cmp ?? 0), failexit: init.failexit ?? 0,
  };
}

/** Registers the stage has (regs[0..255]); it refuses any other index. */
export const REGISTERS = 256;
/**
 * The last register is the stage's own: when nonzero, the address of a struct pollfd that a
 * streamed wait polls every 50 ms, failing with EPIPE on any event (stage.c). Asm never hands
 * it out as a register of a program.
 */
export const WATCH_REGISTER = REGISTERS - 1;

/** A SPAWN whose child goes on in this very list (no op list of its own: a[2] = 0, not a register). */
const spawnsIntoThisList = (op: RawOp) => op.kind === KIND.SPAWN && !(op.regmask & 4) && op.a[2] === 0n;

/**
 * Throw a RangeError naming the first op the stage would refuse (EINVAL, exit 125: a bad index,
 * jump target, kind or condition). The stage checks the same at run time, but in the parent a
 * refusal is the Bun process dying with 125 and no message: check a program before running it.
 */
export function checkOps(ops: readonly RawOp[]): void {
  const n = ops.length;
  ops.forEach((op, i) => {
    const bad = (why: string) => new RangeError(`stage op ${i} (${formatOp(op, i).trim()}): ${why}`);
    const reg = (r: number | bigint, what: string) => {
      if (r < 0 || r >= REGISTERS) throw bad(`${what} r${r} is not a register (0..${REGISTERS - 1})`);
    };
    const to = (rel: number, what: string) => {
      if (i + 1 + rel < 0 || i + 1 + rel > n) throw bad(`${what} target ${i + 1 + rel} is outside the program (0..${n})`);
    };
    if (!Object.values(KIND).includes(op.kind)) throw bad(`unknown kind ${op.kind}`);
    for (let j = 0; j < 6; j++) if (op.regmask & (1 << j)) reg(op.a[j]!, `argument ${j}`);
    switch (op.kind) {
      case KIND.SYSCALL:
      case KIND.SPAWN:
        if (op.dst !== NO_REG) reg(op.dst, "dst");
        if (op.errdst !== NO_REG) reg(op.errdst, "errdst");
        if (op.cond < COND.NONE || op.cond > COND.LT) throw bad(`unknown condition ${op.cond}`);
        if (op.ok.some((e) => e < ANY_ERRNO)) throw bad(`tolerated errno ${op.ok.find((e) => e < ANY_ERRNO)}`);
        if (op.ok.some((e) => e !== 0)) to(op.skip, "skip");
        if (op.cond !== COND.NONE) to(op.jump, "jump");
        if (spawnsIntoThisList(op)) {
          if (op.cond !== COND.NONE) throw bad("a spawn that goes on in this list has no condition");
          to(op.jump, "the child's start");
          if (i + 1 + op.jump === n) throw bad("the child's start is the program's end");
        }
        break;
      case KIND.RETURN:
        reg(op.a[0]!, "RETURN of");
        break;
      case KIND.STORE32:
      case KIND.STORE64:
      case KIND.ITOA:
        reg(op.a[1]!, "source");
        break;
      case KIND.JUMP:
        to(op.jump, "jump");
        break;
      case KIND.SET:
        reg(op.dst, "dst");
        break;
    }
  });
}

export function encodeOps(ops: readonly RawOp[]): Buffer {
  // Typed-array stores, not Buffer.write* calls: this runs for every op of every run, cold.
  const b = Buffer.alloc(ops.length * OP_SIZE);
  const i32 = new Int32Array(b.buffer, b.byteOffset, b.length / 4);
  const i64 = new BigInt64Array(b.buffer, b.byteOffset, b.length / 8);
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    const w = i * (OP_SIZE / 4), q = i * (OP_SIZE / 8);
    i32[w] = op.kind;
    i32[w + 1] = op.nr;
    i32[w + 2] = op.regmask;
    i32[w + 3] = op.dst;
    const a = op.a;
    for (let j = 0; j < 6; j++) i64[q + 2 + j] = a[j] ?? 0n; // stored modulo 2^64, as asIntN would
    const ok = op.ok;
    for (let j = 0; j < 4; j++) i32[w + 16 + j] = ok[j] ?? 0;
    i32[w + 20] = op.errdst;
    i32[w + 21] = op.skip;
    i32[w + 22] = op.cond;
    i32[w + 23] = op.jump;
    i64[q + 12] = op.cmp;
    i32[w + 26] = op.failexit;
  }
  return b;
}

/** The records in `buf` (a reader for tests and --dry-run). */
export function decodeOps(buf: Uint8Array): RawOp[] {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length % OP_SIZE) throw new RangeError(`${b.length} bytes is not a whole number of ${OP_SIZE}-byte ops`);
  return Array.from({ length: b.length / OP_SIZE }, (_, i) => {
    const o = i * OP_SIZE;
    return {
      kind: b.readInt32LE(o) as Kind, nr: b.readInt32LE(o + 4), regmask: b.readInt32LE(o + 8), dst: b.readInt32LE(o + 12),
      a: Array.from({ length: 6 }, (_, j) => b.readBigInt64LE(o + 16 + 8 * j)),
      ok: Array.from({ length: 4 }, (_, j) => b.readInt32LE(o + 64 + 4 * j)),
      errdst: b.readInt32LE(o + 80), skip: b.readInt32LE(o + 84), cond: b.readInt32LE(o + 88), jump: b.readInt32LE(o + 92),
      cmp: b.readBigInt64LE(o + 96), failexit: b.readInt32LE(o + 104),
    };
  });
}

const KIND_NAMES = Object.fromEntries(Object.entries(KIND).map(([k, v]) => [v, k])) as Record<number, string>;
const COND_TEXT = ["", "==", "!=", ">", "<"];

function arg(op: RawOp, j: number): string {
  const v = op.a[j]!;
  if (op.regmask & (1 << j)) return `r${v}`;
  return v > 0xffffn || v < -0xffffn ? `0x${BigInt.asUintN(64, v).toString(16)}` : String(v);
}
const target = (i: number, rel: number) => `→${i + 1 + rel}`;

/**
 * One line for op `index`: `3 SYSCALL sethostname(0x7f…, 5) → r2 ok EPERM skip →5 if r == 0 →7 failexit 126`.
 * `syscallName` turns a number into a name (loadSyscallNames gives one for this CPU).
 */
export function formatOp(op: RawOp, index: number, syscallName?: (nr: number) => string | undefined): string {
  const head = `${String(index).padStart(3)} ${KIND_NAMES[op.kind] ?? `kind ${op.kind}`}`;
  switch (op.kind) {
    case KIND.SYSCALL:
    case KIND.SPAWN: {
      const args = op.a.map((_, j) => arg(op, j));
      while (args.length > 0 && args.at(-1) === "0" && !(op.regmask & (1 << (args.length - 1)))) args.pop();
      const call = op.kind === KIND.SPAWN && op.nr === 0 ? "clone" : (syscallName?.(op.nr) ?? `nr${op.nr}`);
      const parts = [`${head} ${call}(${args.join(", ")})`];
      if (op.dst !== NO_REG) parts.push(`→ r${op.dst}`);
      const ok = op.ok.filter((e) => e !== 0).map((e) => (e === ANY_ERRNO ? "any" : errnoName(e)));
      if (ok.length) parts.push(`ok ${ok.join(",")} skip ${target(index, op.skip)}`);
      if (op.errdst !== NO_REG) parts.push(`errno → r${op.errdst}`);
      if (op.cond) parts.push(`if r ${COND_TEXT[op.cond] ?? `cond${op.cond}`} ${op.cmp} ${target(index, op.jump)}`);
      else if (spawnsIntoThisList(op)) parts.push(`child ${target(index, op.jump)}`);
      else if (op.kind === KIND.SPAWN && op.cmp) parts.push(`its report at 0x${op.cmp.toString(16)}`);
      if (op.failexit) parts.push(`failexit ${op.failexit}`);
      return parts.join(" ");
    }
    case KIND.RETURN:
      return `${head} r${op.a[0]}`;
    case KIND.STORE32:
    case KIND.STORE64:
    case KIND.ITOA:
      return `${head} [${arg(op, 0)}] ← r${op.a[1]}`;
    case KIND.JUMP:
      return `${head} ${target(index, op.jump)}`;
    case KIND.SET:
      return `${head} r${op.dst} ← ${arg(op, 0)}`;
    default:
      return `${head} (unknown)`;
  }
}

/** Syscall names for this CPU's table; loaded on demand (the tables are large, the run path is not). */
export async function loadSyscallNames(): Promise<(nr: number) => string | undefined> {
  const t = await import("../../sys/seccomp/tables.ts");
  const abi = t.currentMachine();
  return (nr) => t.syscallName(abi, nr);
}

/** The whole program, one line per op. */
export async function formatOps(ops: readonly RawOp[]): Promise<string> {
  const names = await loadSyscallNames();
  return ops.map((op, i) => formatOp(op, i, names)).join("\n");
}
