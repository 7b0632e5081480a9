// A classic BPF interpreter with the kernel's seccomp semantics (kernel/seccomp.c checks the
// program; net/core/filter.c runs it). Used by unit tests on synthetic seccomp_data, by
// `seccomp explain` to decode anyone's filter, and to count instructions on the hot path.
import { BPF, SECCOMP_DATA, type Insn } from "./bpf.ts";

export interface SeccompData {
  nr: number;
  arch: number;
  ip?: bigint;
  args?: readonly bigint[];
}

export interface RunResult {
  /** The 32-bit value the filter returned (SECCOMP_RET_*). */
  ret: number;
  /** Instructions executed, the return included. */
  steps: number;
  /** Offsets of seccomp_data the program loaded (to see whether arguments were read). */
  loads: number[];
}

export function packSeccompData(d: SeccompData): Buffer {
  const b = Buffer.alloc(SECCOMP_DATA.size);
  b.writeInt32LE(d.nr | 0, SECCOMP_DATA.nr);
  b.writeUInt32LE(d.arch >>> 0, SECCOMP_DATA.arch);
  b.writeBigUInt64LE(d.ip ?? 0n, SECCOMP_DATA.ip);
  (d.args ?? []).forEach((a, i) => b.writeBigUInt64LE(BigInt.asUintN(64, a), SECCOMP_DATA.argLo(i)));
  return b;
}

export function runFilter(prog: readonly Insn[], data: SeccompData | Buffer): RunResult {
  const mem = Buffer.isBuffer(data) ? data : packSeccompData(data);
  const scratch = new Uint32Array(16);
  let A = 0;
  let X = 0;
  let pc = 0;
  let steps = 0;
  const loads: number[] = [];
  const word = (off: number): number => {
    // seccomp only allows aligned 32-bit loads inside seccomp_data.
    if (off % 4 !== 0 || off < 0 || off + 4 > mem.length) throw new Error(`bpf: bad load offset ${off} at ${pc}`);
    loads.push(off);
    return mem.readUInt32LE(off);
  };
  while (pc < prog.length) {
    const ins = prog[pc]!;
    steps++;
    const cls = ins.code & 0x07;
    const k = ins.k >>> 0;
    pc++;
    switch (cls) {
      case BPF.LD:
      case BPF.LDX: {
        const mode = ins.code & 0xe0;
        let v: number;
        if (mode === BPF.ABS) v = word(k);
        else if (mode === BPF.IMM) v = k;
        else if (mode === BPF.MEM) v = scratch[k & 15]!;
        else if (mode === BPF.LEN) v = mem.length;
        else throw new Error(`bpf: load mode 0x${mode.toString(16)} not allowed in seccomp (at ${pc - 1})`);
        if (cls === BPF.LD) A = v;
        else X = v;
        break;
      }
      case BPF.ST: scratch[k & 15] = A; break;
      case BPF.STX: scratch[k & 15] = X; break;
      case BPF.ALU: {
        const src = ins.code & BPF.X ? X : k;
        switch (ins.code & 0xf0) {
          case BPF.ADD: A = (A + src) >>> 0; break;
          case BPF.SUB: A = (A - src) >>> 0; break;
          case BPF.MUL: A = Math.imul(A, src) >>> 0; break;
          case BPF.DIV: if (src === 0) return { ret: 0, steps, loads }; A = Math.floor(A / src) >>> 0; break;
          case BPF.MOD: if (src === 0) return { ret: 0, steps, loads }; A = (A % src) >>> 0; break;
          case BPF.OR: A = (A | src) >>> 0; break;
          case BPF.AND: A = (A & src) >>> 0; break;
          case BPF.XOR: A = (A ^ src) >>> 0; break;
          case BPF.LSH: A = src >= 32 ? 0 : (A << src) >>> 0; break;
          case BPF.RSH: A = src >= 32 ? 0 : A >>> src; break;
          case BPF.NEG: A = -A >>> 0; break;
          default: throw new Error(`bpf: bad ALU op 0x${ins.code.toString(16)}`);
        }
        break;
      }
      case BPF.JMP: {
        const op = ins.code & 0xf0;
        if (op === BPF.JA) {
          pc += k;
          break;
        }
        const src = ins.code & BPF.X ? X : k;
        let taken: boolean;
        if (op === BPF.JEQ) taken = A === src;
        else if (op === BPF.JGT) taken = A > src;
        else if (op === BPF.JGE) taken = A >= src;
        else if (op === BPF.JSET) taken = (A & src) !== 0;
        else throw new Error(`bpf: bad jump 0x${ins.code.toString(16)}`);
        pc += taken ? ins.jt : ins.jf;
        break;
      }
      case BPF.RET: {
        const rv = ins.code & 0x18;
        return { ret: (rv === BPF.A ? A : k) >>> 0, steps, loads };
      }
      case BPF.MISC: if ((ins.code & 0xf8) === BPF.TXA) A = X; else X = A; break;
    }
  }
  throw new Error("bpf: the program ran past its end (the kernel would have refused it)");
}
