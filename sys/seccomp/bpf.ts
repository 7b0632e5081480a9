// Classic BPF as seccomp uses it (include/uapi/linux/filter.h, linux/bpf_common.h): the
// instruction format, its encoding, and the offsets of struct seccomp_data.

export interface Insn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

// Instruction classes and fields.
export const BPF = {
  LD: 0x00, LDX: 0x01, ST: 0x02, STX: 0x03, ALU: 0x04, JMP: 0x05, RET: 0x06, MISC: 0x07,
  W: 0x00, H: 0x08, B: 0x10,
  IMM: 0x00, ABS: 0x20, IND: 0x40, MEM: 0x60, LEN: 0x80, MSH: 0xa0,
  ADD: 0x00, SUB: 0x10, MUL: 0x20, DIV: 0x30, OR: 0x40, AND: 0x50, LSH: 0x60, RSH: 0x70, NEG: 0x80, MOD: 0x90, XOR: 0xa0,
  JA: 0x00, JEQ: 0x10, JGT: 0x20, JGE: 0x30, JSET: 0x40,
  K: 0x00, X: 0x08, A: 0x10,
  TAX: 0x00, TXA: 0x80,
} as const;

/** struct seccomp_data { int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]; } */
export const SECCOMP_DATA = {
  nr: 0,
  arch: 4,
  ip: 8,
  /** Little-endian machines (x86_64, aarch64): the low half comes first. */
  argLo: (i: number) => 16 + 8 * i,
  argHi: (i: number) => 20 + 8 * i,
  size: 64,
} as const;

/** BPF_MAXINSNS: the kernel refuses longer programs. */
export const MAX_INSNS = 4096;

export function encode(prog: readonly Insn[]): Buffer {
  const buf = Buffer.alloc(prog.length * 8);
  prog.forEach((ins, i) => {
    buf.writeUInt16LE(ins.code, i * 8);
    buf.writeUInt8(ins.jt, i * 8 + 2);
    buf.writeUInt8(ins.jf, i * 8 + 3);
    buf.writeUInt32LE(ins.k >>> 0, i * 8 + 4);
  });
  return buf;
}

export function decode(buf: Buffer): Insn[] {
  if (buf.length % 8 !== 0) throw new Error(`seccomp: a filter is a multiple of 8 bytes, got ${buf.length}`);
  const prog: Insn[] = [];
  for (let i = 0; i < buf.length; i += 8) {
    prog.push({ code: buf.readUInt16LE(i), jt: buf.readUInt8(i + 2), jf: buf.readUInt8(i + 3), k: buf.readUInt32LE(i + 4) });
  }
  return prog;
}
