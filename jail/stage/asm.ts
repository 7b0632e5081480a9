// The assembler for the stage's operation list (jail/stage/ops.ts is the binary format,
// jail/stage/stage.c its interpreter). TypeScript emits every system call the jail's processes
// will make after clone, in order, with its arguments and what a failure means; the stage only
// replays them. Arguments are immediates, absolute addresses of buffers this process keeps alive
// until the clone (the child gets a copy of this address space), or registers: slots of memory
// shared with the child, which hold results (fds, pids) and errnos the supervisor reads back.
import { ptr } from "bun:ffi";
import { SysError } from "../../sys/errors.ts";
import { errnoName } from "../../sys/errno.ts";
import { KIND, COND, OP_SIZE, REGISTERS, WATCH_REGISTER } from "./ops.ts";

export { REGISTERS };

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

const CONDS = { eq: COND.EQ, ne: COND.NE, gt: COND.GT, lt: COND.LT } as const;
const NONE: readonly number[] = [];

/** 32-bit words of one op record (jail/stage/ops.ts: 112 bytes). */
const W = OP_SIZE / 4;

export class Asm {
  /**
   * The ops, encoded as they are emitted (the stage's own records): int32 words and, over the
   * same memory, int64 slots. skip/jump are filled in once their labels are bound.
   */
  private words = new Int32Array(256 * W);
  private quads = new BigInt64Array(this.words.buffer);
  private n = 0;
  private readonly notes: (OpNote | null)[] = [];
  /** per op: the label its skip / jump goes to, -1 for none */
  private readonly skipTo: number[] = [];
  private readonly jumpTo: number[] = [];
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
    if (this.nextReg >= WATCH_REGISTER) throw new Error(`stage: more than ${WATCH_REGISTER} registers`);
    return { reg: this.nextReg++ };
  }

  /**
   * From here on, each streamed wait of this process (for ops not yet published) polls the
   * struct pollfd at `pollfd` every 50 ms and fails with EPIPE on any event there (stage.c).
   */
  watch(pollfd: bigint): void {
    this.set({ reg: WATCH_REGISTER }, pollfd);
  }

  label(): Label {
    this.labels.push(-1);
    return { label: this.labels.length - 1 };
  }

  bind(l: Label): void {
    this.labels[l.label] = this.n;
  }

  get length(): number {
    return this.n;
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
    this.syscallOp(KIND.SYSCALL, nr, args, o);
  }

  /**
   * A SPAWN op (jail/stage/ops.ts): a clone whose child replays an op list of its own; `nr`
   * (clone3's) when its args are a struct clone_args and its size.
   */
  spawn(args: readonly Arg[], o: SyscallOptions, nr = 0): void {
    this.syscallOp(KIND.SPAWN, nr, args, o);
  }

  private syscallOp(kind: number, nr: number, args: readonly Arg[], o: SyscallOptions): void {
    if (args.length > 6) throw new Error("stage: more than 6 arguments");
    let ok = o.ok ?? NONE;
    let skipTo = o.skipTo;
    if (this.tolerance && !o.ok) {
      ok = this.tolerance.ok;
      skipTo = this.tolerance.to;
    }
    if (ok.length > 4) throw new Error("stage: more than 4 tolerated errnos");
    const i = this.slot();
    const w = this.words, at = i * W;
    w[at] = kind;
    w[at + 1] = nr;
    let regmask = 0;
    for (let j = 0; j < args.length; j++) {
      const x = args[j]!;
      if (typeof x === "object") {
        regmask |= 1 << j;
        this.arg(at, j, x.reg);
      } else this.arg(at, j, x);
    }
    w[at + 2] = regmask;
    w[at + 3] = o.dst ? o.dst.reg : -1;
    for (let j = 0; j < ok.length; j++) w[at + 16 + j] = ok[j]!;
    w[at + 20] = o.errdst ? o.errdst.reg : -1;
    if (o.cond) w[at + 22] = CONDS[o.cond];
    if (o.cmp) this.arg(at, 10, o.cmp); // cmp is the int64 after a[0..5] and the words between
    if (o.failexit) w[at + 26] = o.failexit;
    this.skipTo[i] = skipTo ? skipTo.label : -1;
    this.jumpTo[i] = o.jumpTo ? o.jumpTo.label : -1;
    // The note is what a failure means: the options themselves when they carry no hints of ours.
    let note: OpNote = o;
    if (this.hints) note = { syscall: o.syscall, path: o.path, flags: o.flags, hints: o.hints ? { ...this.hints, ...o.hints } : this.hints };
    this.notes[i] = note;
    this.onEmit?.();
  }

  /** A new zeroed record (dst and errdst -1), its index. */
  private slot(): number {
    const i = this.n++;
    if (this.n * W > this.words.length) {
      const more = new Int32Array(this.words.length * 2);
      more.set(this.words);
      this.words = more;
      this.quads = new BigInt64Array(more.buffer);
    }
    return i;
  }

  /** a[j] of the record at word `at` (j = 10: cmp): an int64, written as two words where it can. */
  private arg(at: number, j: number, x: number | bigint): void {
    const k = at + 4 + 2 * j;
    if (typeof x === "number" && (x | 0) === x) {
      this.words[k] = x;
      this.words[k + 1] = x < 0 ? -1 : 0;
    } else this.quads[k >> 1] = BigInt(x);
  }

  private plain(kind: number, a: readonly (number | bigint)[], dst = -1, jumpTo?: Label): void {
    const i = this.slot();
    const at = i * W;
    this.words[at] = kind;
    for (let j = 0; j < a.length; j++) this.arg(at, j, a[j]!);
    this.words[at + 3] = dst;
    this.words[at + 20] = -1;
    this.skipTo[i] = -1;
    this.jumpTo[i] = jumpTo ? jumpTo.label : -1;
    this.notes[i] = null;
    this.onEmit?.();
  }

  jump(to: Label): void {
    this.plain(KIND.JUMP, [], -1, to);
  }

  /**
   * Take back the last op, a JUMP whose label is not bound yet (so it was not streamed: `ready`
   * stops at it). Labels bound after it, at the op that would have followed it, move with it.
   */
  dropLastJump(): void {
    const i = this.n - 1;
    if (i < 0 || this.words[i * W] !== KIND.JUMP || this.jumpTo[i]! < 0 || this.labels[this.jumpTo[i]!]! >= 0 || this.settled > i)
      throw new Error("stage: the last op is not a pending jump");
    this.words.fill(0, i * W, (i + 1) * W);
    this.skipTo.length = this.jumpTo.length = this.notes.length = i;
    this.n = i;
    for (let l = 0; l < this.labels.length; l++) if (this.labels[l] === i + 1) this.labels[l] = i;
  }

  set(dst: Reg, value: number | bigint): void {
    this.plain(KIND.SET, [value], dst.reg);
  }

  /** *(int32_t *)addr = reg */
  store32(addr: bigint, from: Reg): void {
    this.plain(KIND.STORE32, [addr, from.reg]);
  }

  /** *(int64_t *)addr = reg */
  store64(addr: bigint, from: Reg): void {
    this.plain(KIND.STORE64, [addr, from.reg]);
  }

  /** decimal of `from` into the 24-byte buffer at `addr` */
  itoa(addr: bigint, from: Reg): void {
    this.plain(KIND.ITOA, [addr, from.reg]);
  }

  ret(from: Reg): void {
    this.plain(KIND.RETURN, [from.reg]);
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

  /** The notes by op index (what each op's failure means). */
  opNotes(): (OpNote | null)[] {
    return this.notes.slice(0, this.n);
  }

  private settled = 0;
  /**
   * How many ops from the start are final: every label they jump to is bound. Streaming hands
   * these to the stage while the rest is still being compiled.
   */
  ready(): number {
    const bound = (l: number) => l < 0 || this.labels[l]! >= 0;
    while (this.settled < this.n && bound(this.skipTo[this.settled]!) && bound(this.jumpTo[this.settled]!)) this.settled++;
    return this.settled;
  }

  /** The records of ops [from, to) as the stage reads them, jumps resolved; their labels must be bound. */
  bytes(from: number, to: number): Buffer {
    const at = (l: number): number => {
      const i = this.labels[l]!;
      if (i < 0) throw new Error("stage: unbound label");
      return i;
    };
    for (let i = from; i < to; i++) {
      if (this.skipTo[i]! >= 0) this.words[i * W + 21] = at(this.skipTo[i]!) - (i + 1);
      if (this.jumpTo[i]! >= 0) this.words[i * W + 23] = at(this.jumpTo[i]!) - (i + 1);
    }
    return Buffer.from(this.words.buffer, from * OP_SIZE, (to - from) * OP_SIZE);
  }
}

/** The error an op's failure means, as the direct call would have thrown it. */
export function opError(note: OpNote | null | undefined, errno: number): SysError {
  const code = errnoName(errno);
  if (!note) return new SysError("stage", code, errno, undefined, "bad operation");
  return new SysError(note.syscall, code, errno, note.path, note.flags, note.hints?.[code]);
}
