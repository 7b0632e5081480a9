// Readable disassembly of a classic BPF seccomp program (any producer's), in the style of
// the kernel's bpf_dbg / libseccomp's tools: one line per instruction, jumps as absolute lines.
import { describeRet } from "./actions.ts";
import { BPF, SECCOMP_DATA, type Insn } from "./bpf.ts";
import { AUDIT_ARCH } from "./tables.ts";

const ARCH_NAMES = new Map<number, string>(Object.entries(AUDIT_ARCH).map(([n, v]) => [v, `AUDIT_ARCH_${n.toUpperCase()}`]));

function field(off: number): string {
  if (off === SECCOMP_DATA.nr) return "nr";
  if (off === SECCOMP_DATA.arch) return "arch";
  if (off === SECCOMP_DATA.ip) return "ip_lo";
  if (off === SECCOMP_DATA.ip + 4) return "ip_hi";
  if (off >= 16 && off < 64) return `args[${Math.floor((off - 16) / 8)}].${(off - 16) % 8 === 0 ? "lo" : "hi"}`;
  return `[${off}]`;
}

const ALU_OPS: Record<number, string> = { 0x00: "add", 0x10: "sub", 0x20: "mul", 0x30: "div", 0x40: "or", 0x50: "and", 0x60: "lsh", 0x70: "rsh", 0x80: "neg", 0x90: "mod", 0xa0: "xor" };
const JMP_OPS: Record<number, string> = { 0x10: "jeq", 0x20: "jgt", 0x30: "jge", 0x40: "jset" };

export function disassembleInsn(ins: Insn, pc: number): string {
  const cls = ins.code & 7;
  const k = ins.k >>> 0;
  const hex = `0x${k.toString(16)}`;
  switch (cls) {
    case BPF.LD:
    case BPF.LDX: {
      const reg = cls === BPF.LD ? "ld" : "ldx";
      const mode = ins.code & 0xe0;
      if (mode === BPF.ABS) return `${reg} ${field(k)}`;
      if (mode === BPF.IMM) return `${reg} #${hex}`;
      if (mode === BPF.MEM) return `${reg} M[${k}]`;
      if (mode === BPF.LEN) return `${reg} #len`;
      return `${reg} ?0x${ins.code.toString(16)}`;
    }
    case BPF.ST: return `st M[${k}]`;
    case BPF.STX: return `stx M[${k}]`;
    case BPF.ALU: return `${ALU_OPS[ins.code & 0xf0] ?? "alu?"} ${ins.code & BPF.X ? "x" : `#${hex}`}`;
    case BPF.JMP: {
      if ((ins.code & 0xf0) === BPF.JA) return `ja ${pc + 1 + k}`;
      const what = ins.code & BPF.X ? "x" : ARCH_NAMES.get(k) ?? (k > 9 ? hex : String(k));
      return `${JMP_OPS[ins.code & 0xf0] ?? "j?"} ${what}, ${pc + 1 + ins.jt}, ${pc + 1 + ins.jf}`;
    }
    case BPF.RET: return (ins.code & 0x18) === BPF.A ? "ret a" : `ret ${describeRet(k)}`;
    case BPF.MISC: return (ins.code & 0xf8) === BPF.TXA ? "txa" : "tax";
  }
  return "?";
}

export function disassemble(prog: readonly Insn[]): string {
  const width = String(prog.length).length;
  return prog.map((ins, pc) => `${String(pc).padStart(width)}: ${disassembleInsn(ins, pc)}`).join("\n");
}
