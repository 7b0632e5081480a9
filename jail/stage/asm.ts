// The assembler for the stage's operation list (jail/stage/ops.ts is the binary format,
// jail/stage/stage.c its interpreter). TypeScript emits every system call the jail's processes
// will make after clone, in order, with its arguments and what a failure means; the stage only
// replays them. Arguments are immediates, absolute addresses of buffers this process keeps alive
// until the clone (the child gets a copy of this address space), or registers: slots of memory
// shared with the child, which hold results (fds, pids) and errnos the supervisor reads back.
import { ptr } from "bun:ffi";
import { SysError } from "../../sys/errors.ts";
import { errnoName } from "../../sys/errno.ts";
import { KIND, COND, type RawOp } from "./ops.ts";

export const REGISTERS = 256;

/** A register of the stage: a value known only when the stage runs. */
export interface Reg {
  readonly reg: number;
}
export type Arg = number | bigint | Reg;

export interface Label {
  readonly label: number;
}

/** What an op is, for messages: the SysError a failure becomes (as the direct calls throw). */
export interface OpNote {
  syscall: string;
  path?: string;
  flags?: string;
  /** per errno code (e.g. EROFS), the hint a failure with that code carries */
  hints?: Record<string, string>;
}

export interface SyscallOptions extends OpNote {
  /** register that receives the result */
  dst?: Reg;
  /** tolerated errnos (-1: any); `skipTo` is where a tolerated failure goes (default: on) */
  ok?: readonly number[];
  skipTo?: Label;
  /** register that receives the errno of any failure */
  errdst?: Reg;
  /** on success, when `result <cond> cmp`, go to `jumpTo` */
  cond?: "eq" | "ne" | "gt" | "lt";
  cmp?: number;
  jumpTo?: Label;
  /** exit status of an untolerated failure (default 125) */
  failexit?: number;
}

interface Pending {
  op: RawOp;
  note: OpNote | null;
  skipTo?: Label;
  jumpTo?: Label;
}

const isReg = (a: Arg): a is Reg => typeof a === "object";
const CONDS = { eq: COND.EQ, ne: COND.NE, gt: COND.GT, lt: COND.LT } as const;
const NONE: readonly number[] = [];

export class Asm {
  private readonly ops: Pending[] = [];
  private readonly labels: number[] = [];
  private nextReg: number;
  /** buffers whose addresses are in the ops: alive until the stage has run */
  readonly keep: unknown[] = [];
  /** tolerance applied to every op emitted inside `tolerating` */
  private tolerance: { ok: number[]; to: Label } | null = null;
  /** hints added to every op emitted inside `hinting` */
  private hints: Record<string, string> | null = null;
  /** called after each op is emitted (streaming: jail/stage/compile.ts) */
  onEmit: (() => void) | null = null;

  /**
   * `shared`: memory every buffer is copied into (no matter its size), for ops compiled after the
   * clone that the child reads from memory shared with it (see jail/stage/compile.ts).
   */
  constructor(private readonly sharedArena?: Buffer) {
    this.nextReg = 0;
    if (sharedArena) {
      this.arena = sharedArena;
      this.arenaBase = BigInt(ptr(sharedArena));
      this.keep.push(sharedArena);
    }
  }

  reg(): Reg {
    if (this.nextReg >= REGISTERS) throw new Error(`stage: more than ${REGISTERS} registers`);
    return { reg: this.nextReg++ };
  }

  label(): Label {
    this.labels.push(-1);
    return { label: this.labels.length - 1 };
  }

  bind(l: Label): void {
    this.labels[l.label] = this.ops.length;
  }

  get length(): number {
    return this.ops.length;
  }

  /** Strings and small structs are copied into arenas: one ptr() per arena, not per buffer. */
  private arena: Buffer = Buffer.alloc(0);
  private arenaBase = 0n;
  private used = 0;

  private room(n: number): number {
    const at = (this.used + 7) & ~7;
    if (at + n <= this.arena.length) {
      this.used = at + n;
      return at;
    }
    if (this.sharedArena) throw new Error(`stage: the shared arena (${this.sharedArena.length} bytes) is full`);
    this.arena = Buffer.alloc(Math.max(64 * 1024, n));
    this.arenaBase = BigInt(ptr(this.arena));
    this.keep.push(this.arena);
    this.used = n;
    return 0;
  }

  /** Address of a NUL-terminated copy of `s`. */
  str(s: string): bigint {
    const n = Buffer.byteLength(s);
    const at = this.room(n + 1);
    this.arena.write(s, at, "utf8");
    this.arena[at + n] = 0;
    return this.arenaBase + BigInt(at);
  }

  /** Address of a copy of `b` (8-aligned; the ops may point into it, the caller's copy is not used). */
  buf(b: Buffer | ArrayBufferView): bigint {
    if (b.byteLength > 4096 && !this.sharedArena) {
      // large (a seccomp program, the message buffer): kept as it is
      this.keep.push(b);
      return BigInt(ptr(b as Buffer));
    }
    const at = this.room(b.byteLength);
    this.arena.set(new Uint8Array(b.buffer, b.byteOffset, b.byteLength), at);
    return this.arenaBase + BigInt(at);
  }

  /** Address of `b` itself (memory the stage writes and this process reads back). */
  shared(b: ArrayBufferView): bigint {
    this.keep.push(b);
    return BigInt(ptr(b as Buffer));
  }

  /** Address of a NULL-terminated array of C strings. */
  strArray(items: readonly string[]): bigint {
    const arr = new BigInt64Array(items.length + 1);
    items.forEach((s, i) => (arr[i] = this.str(s)));
    return this.buf(arr);
  }

  syscall(nr: number, args: readonly Arg[], o: SyscallOptions = { syscall: "?" }): void {
    if (args.length > 6) throw new Error("stage: more than 6 arguments");
    const a: bigint[] = [0n, 0n, 0n, 0n, 0n, 0n];
    let regmask = 0;
    args.forEach((x, i) => {
      if (isReg(x)) {
        regmask |= 1 << i;
        a[i] = BigInt(x.reg);
      } else a[i] = BigInt(x);
    });
    let ok = o.ok ?? NONE;
    let skipTo = o.skipTo;
    if (this.tolerance && !o.ok) {
      ok = this.tolerance.ok;
      skipTo = this.tolerance.to;
    }
    if (ok.length > 4) throw new Error("stage: more than 4 tolerated errnos");
    const note: OpNote = { syscall: o.syscall };
    if (o.path !== undefined) note.path = o.path;
    if (o.flags !== undefined) note.flags = o.flags;
    if (this.hints || o.hints) note.hints = this.hints && o.hints ? { ...this.hints, ...o.hints } : (this.hints ?? o.hints);
    this.ops.push({
      op: {
        kind: KIND.SYSCALL, nr, regmask, dst: o.dst?.reg ?? -1, a,
        ok: [ok[0] ?? 0, ok[1] ?? 0, ok[2] ?? 0, ok[3] ?? 0], errdst: o.errdst?.reg ?? -1, skip: 0,
        cond: o.cond ? CONDS[o.cond] : 0, jump: 0, cmp: o.cmp ? BigInt(o.cmp) : 0n, failexit: o.failexit ?? 0,
      },
      note,
      skipTo,
      jumpTo: o.jumpTo,
    });
    this.onEmit?.();
  }

  /** A SPAWN op (jail/stage/ops.ts): a clone whose child replays an op list of its own. */
  spawn(args: readonly Arg[], o: SyscallOptions): void {
    this.syscall(0, args, o);
    (this.ops[this.ops.length - 1]!.op as { kind: number }).kind = KIND.SPAWN;
  }

  private plain(kind: number, a: bigint[], dst = -1, jumpTo?: Label): void {
    this.ops.push({
      op: { kind: kind as RawOp["kind"], nr: 0, regmask: 0, dst, a: [...a, 0n, 0n, 0n, 0n, 0n, 0n].slice(0, 6), ok: [0, 0, 0, 0], errdst: -1, skip: 0, cond: 0, jump: 0, cmp: 0n, failexit: 0 },
      note: null,
      jumpTo,
    });
    this.onEmit?.();
  }

  jump(to: Label): void {
    this.plain(KIND.JUMP, [], -1, to);
  }

  set(dst: Reg, value: number | bigint): void {
    this.plain(KIND.SET, [BigInt(value)], dst.reg);
  }

  /** *(int32_t *)addr = reg */
  store32(addr: bigint, from: Reg): void {
    this.plain(KIND.STORE32, [addr, BigInt(from.reg)]);
  }

  /** *(int64_t *)addr = reg */
  store64(addr: bigint, from: Reg): void {
    this.plain(KIND.STORE64, [addr, BigInt(from.reg)]);
  }

  /** decimal of `from` into the 24-byte buffer at `addr` */
  itoa(addr: bigint, from: Reg): void {
    this.plain(KIND.ITOA, [addr, BigInt(from.reg)]);
  }

  ret(from: Reg): void {
    this.plain(KIND.RETURN, [BigInt(from.reg)]);
  }

  /** Every op emitted by `fn` goes to `to` on one of `errnos` (unless it names its own). */
  tolerating<T>(errnos: readonly number[], to: Label, fn: () => T): T {
    const saved = this.tolerance;
    this.tolerance = { ok: [...errnos], to };
    try {
      return fn();
    } finally {
      this.tolerance = saved;
    }
  }

  hinting<T>(code: string, hint: string, fn: () => T): T {
    const saved = this.hints;
    this.hints = { ...saved, [code]: hint };
    try {
      return fn();
    } finally {
      this.hints = saved;
    }
  }

  /** The ops with jumps resolved (relative), and the notes by op index. */
  finish(): { ops: RawOp[]; notes: (OpNote | null)[] } {
    return { ops: this.resolved(0, this.ops.length), notes: this.ops.map((p) => p.note) };
  }

  private settled = 0;
  /**
   * How many ops from the start are final: every label they jump to is bound. Streaming hands
   * these to the stage while the rest is still being compiled.
   */
  ready(): number {
    const bound = (l: Label | undefined) => !l || this.labels[l.label]! >= 0;
    while (this.settled < this.ops.length) {
      const p = this.ops[this.settled]!;
      if (!bound(p.skipTo) || !bound(p.jumpTo)) break;
      this.settled++;
    }
    return this.settled;
  }

  /** Ops [from, to) with jumps resolved (relative); each of their labels must be bound. */
  resolved(from: number, to: number): RawOp[] {
    const at = (l: Label): number => {
      const i = this.labels[l.label]!;
      if (i < 0) throw new Error("stage: unbound label");
      return i;
    };
    const out: RawOp[] = [];
    for (let i = from; i < to; i++) {
      const p = this.ops[i]!;
      const op = { ...p.op };
      if (p.skipTo) op.skip = at(p.skipTo) - (i + 1);
      if (p.jumpTo) op.jump = at(p.jumpTo) - (i + 1);
      out.push(op);
    }
    return out;
  }
}

/** The error an op's failure means, as the direct call would have thrown it. */
export function opError(note: OpNote | null | undefined, errno: number): SysError {
  const code = errnoName(errno);
  if (!note) return new SysError("stage", code, errno, undefined, "bad operation");
  return new SysError(note.syscall, code, errno, note.path, note.flags, note.hints?.[code]);
}
